//! Atlassian Document Format: Markdown written by a model turned into ADF (Jira Cloud's rich
//! text), and ADF read back as plain text. The Markdown understood is what models write in
//! tickets: paragraphs, `#` headings, `-`/`*` and `1.` lists, fenced code, `>` quotes, `---`,
//! and inline `**strong**`, `*em*`/`_em_`, `~~strike~~`, `` `code` `` and `[text](url)`.

use serde_json::{Value, json};

/// How far a mark's or a link's closing is looked for.
const REACH: usize = 2_000;

/// An ADF document of `markdown`.
pub fn from_markdown(markdown: &str) -> Value {
    let mut blocks = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            let mut content = Vec::new();
            for (n, line) in paragraph.iter().enumerate() {
                if n > 0 {
                    content.push(json!({"type": "hardBreak"}));
                }
                content.extend(inline(line.trim()));
            }
            blocks.push(json!({"type": "paragraph", "content": content}));
            paragraph.clear();
        }
    };
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if let Some(language) = trimmed.strip_prefix("```") {
            flush(&mut paragraph, &mut blocks);
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i]);
                i += 1;
            }
            i += 1;
            let mut block = json!({"type": "codeBlock"});
            if !language.trim().is_empty() {
                block["attrs"] = json!({"language": language.trim()});
            }
            let text = code.join("\n");
            block["content"] = if text.is_empty() {
                json!([])
            } else {
                json!([{"type": "text", "text": text}])
            };
            blocks.push(block);
            continue;
        }
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut blocks);
        } else if let Some((level, text)) = heading(trimmed) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(
                json!({"type": "heading", "attrs": {"level": level}, "content": inline(text)}),
            );
        } else if trimmed == "---" || trimmed == "***" {
            flush(&mut paragraph, &mut blocks);
            blocks.push(json!({"type": "rule"}));
        } else if let Some(quoted) = trimmed.strip_prefix('>') {
            flush(&mut paragraph, &mut blocks);
            let mut text = vec![quoted.trim()];
            while i + 1 < lines.len() && lines[i + 1].trim().starts_with('>') {
                i += 1;
                text.push(lines[i].trim()[1..].trim());
            }
            let mut inner = Vec::new();
            for (n, line) in text.iter().enumerate() {
                if n > 0 {
                    inner.push(json!({"type": "hardBreak"}));
                }
                inner.extend(inline(line));
            }
            blocks.push(
                json!({"type": "blockquote", "content": [{"type": "paragraph", "content": inner}]}),
            );
        } else if let Some((ordered, _)) = list_item(trimmed) {
            flush(&mut paragraph, &mut blocks);
            let mut items = Vec::new();
            while i < lines.len() {
                match list_item(lines[i].trim()) {
                    Some((same, text)) if same == ordered => {
                        items.push(json!({"type": "listItem", "content": [{"type": "paragraph", "content": inline(text)}]}));
                        i += 1;
                    }
                    _ => break,
                }
            }
            blocks.push(if ordered {
                json!({"type": "orderedList", "attrs": {"order": 1}, "content": items})
            } else {
                json!({"type": "bulletList", "content": items})
            });
            continue;
        } else {
            paragraph.push(line);
        }
        i += 1;
    }
    flush(&mut paragraph, &mut blocks);
    json!({"type": "doc", "version": 1, "content": blocks})
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|c| *c == '#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && rest.starts_with(' ')).then(|| (level, rest.trim()))
}

/// `- x`, `* x`, `+ x` (unordered) or `1. x` (ordered).
fn list_item(line: &str) -> Option<(bool, &str)> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(text) = line.strip_prefix(bullet) {
            return Some((false, text.trim()));
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        let rest = &line[digits..];
        if let Some(text) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((true, text.trim()));
        }
    }
    None
}

/// Inline text with marks. Text nodes are never empty (ADF refuses them).
fn inline(text: &str) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut plain = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let push_plain = |plain: &mut String, nodes: &mut Vec<Value>| {
        if !plain.is_empty() {
            nodes.push(json!({"type": "text", "text": std::mem::take(plain)}));
        }
    };
    // Marks and links close within a short reach: bounded scans keep the whole linear.
    let find = |from: usize, close: &[char]| -> Option<usize> {
        let end = chars
            .len()
            .saturating_sub(close.len() - 1)
            .min(from + REACH);
        (from..end).find(|&j| chars[j..j + close.len()] == *close)
    };
    while i < chars.len() {
        let rest = &chars[i..];
        let marked = |open: &[char], close: &[char], mark: Value| -> Option<(usize, Value)> {
            if !rest.starts_with(open) {
                return None;
            }
            let end = find(i + open.len(), close)?;
            let inner: String = chars[i + open.len()..end].iter().collect();
            if inner.trim().is_empty() {
                return None;
            }
            Some((
                end + close.len(),
                json!({"type": "text", "text": inner, "marks": [mark]}),
            ))
        };
        let found = marked(&['`'], &['`'], json!({"type": "code"}))
            .or_else(|| marked(&['*', '*'], &['*', '*'], json!({"type": "strong"})))
            .or_else(|| marked(&['~', '~'], &['~', '~'], json!({"type": "strike"})))
            .or_else(|| marked(&['*'], &['*'], json!({"type": "em"})))
            .or_else(|| {
                // `_em_` only at word edges, so snake_case stays as it is.
                let at_edge = i == 0 || !chars[i - 1].is_alphanumeric();
                at_edge
                    .then(|| marked(&['_'], &['_'], json!({"type": "em"})))
                    .flatten()
            })
            .or_else(|| link(&chars, i));
        match found {
            Some((next, node)) => {
                push_plain(&mut plain, &mut nodes);
                nodes.push(node);
                i = next;
            }
            None => {
                plain.push(chars[i]);
                i += 1;
            }
        }
    }
    push_plain(&mut plain, &mut nodes);
    nodes
}

/// `[text](https://…)` at `i`.
fn link(chars: &[char], i: usize) -> Option<(usize, Value)> {
    if chars[i] != '[' {
        return None;
    }
    let close = (i + 1..chars.len().min(i + 1 + REACH)).find(|&j| chars[j] == ']')?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = (close + 2..chars.len().min(close + 2 + REACH)).find(|&j| chars[j] == ')')?;
    let text: String = chars[i + 1..close].iter().collect();
    let href: String = chars[close + 2..end].iter().collect();
    if text.is_empty()
        || !(href.starts_with("https://")
            || href.starts_with("http://")
            || href.starts_with("mailto:"))
    {
        return None;
    }
    Some((
        end + 1,
        json!({"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": href}}]}),
    ))
}

/// The text of an ADF node (a document, or anything in one): blocks on lines of their own,
/// list items with a dash. A string (Data Center's wiki text) is itself.
pub fn to_text(node: &Value) -> String {
    if let Some(text) = node.as_str() {
        return text.to_owned();
    }
    let mut out = String::new();
    write(node, &mut out);
    out.trim().to_owned()
}

fn write(node: &Value, out: &mut String) {
    let children = |out: &mut String| {
        for child in node["content"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            write(child, out);
        }
    };
    match node["type"].as_str().unwrap_or("") {
        "text" => out.push_str(node["text"].as_str().unwrap_or("")),
        "hardBreak" => out.push('\n'),
        "mention" => out.push_str(node["attrs"]["text"].as_str().unwrap_or("@someone")),
        "emoji" => out.push_str(node["attrs"]["shortName"].as_str().unwrap_or("")),
        "inlineCard" => out.push_str(node["attrs"]["url"].as_str().unwrap_or("")),
        "listItem" => {
            out.push_str("- ");
            children(out);
        }
        "paragraph" | "heading" | "codeBlock" | "blockquote" | "bulletList" | "orderedList"
        | "panel" | "table" | "tableRow" | "tableCell" | "tableHeader" => {
            children(out);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        "rule" => out.push_str("---\n"),
        _ => children(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_adf() {
        let doc = from_markdown(
            "# Checkout fails\n\nSeen in **production** since `2.4.1`, see [Sentry](https://acme.sentry.io/issues/9001/).\nSecond line\n\n- first\n- second_item\n\n1. one\n2. two\n\n```python\nshare = total / len(payers)\n```\n> quoted\n---",
        );
        let content = doc["content"].as_array().unwrap();
        let types: Vec<&str> = content
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "heading",
                "paragraph",
                "bulletList",
                "orderedList",
                "codeBlock",
                "blockquote",
                "rule"
            ]
        );
        assert_eq!(content[0]["attrs"]["level"], 1);
        let paragraph = &content[1]["content"];
        assert_eq!(
            paragraph[1],
            json!({"type": "text", "text": "production", "marks": [{"type": "strong"}]})
        );
        assert_eq!(paragraph[3]["marks"][0]["type"], "code");
        assert_eq!(
            paragraph[5]["marks"][0]["attrs"]["href"],
            "https://acme.sentry.io/issues/9001/"
        );
        assert!(
            paragraph
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "hardBreak")
        );
        assert_eq!(
            content[2]["content"][1]["content"][0]["content"][0]["text"],
            "second_item"
        );
        assert_eq!(content[4]["attrs"]["language"], "python");
        // Every text node has text: ADF refuses empty ones.
        fn check(node: &Value) {
            if node["type"] == "text" {
                assert!(!node["text"].as_str().unwrap().is_empty(), "{node}");
            }
            for child in node["content"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                check(child);
            }
        }
        check(&doc);
        assert_eq!(
            from_markdown(""),
            json!({"type": "doc", "version": 1, "content": []})
        );
        // Unclosed marks and links stay text, and take linear time.
        let hostile = "[x](".repeat(20_000) + &"**".repeat(10_000);
        let doc = from_markdown(&hostile);
        assert_eq!(doc["content"][0]["type"], "paragraph");
    }

    #[test]
    fn adf_reads_back_as_text() {
        let doc = from_markdown("Title line\n\n- a\n- b");
        assert_eq!(to_text(&doc), "Title line\n- a\n- b");
        assert_eq!(to_text(&json!("wiki *text*")), "wiki *text*");
        assert_eq!(to_text(&json!(null)), "");
    }
}
