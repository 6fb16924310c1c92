//! Published resource URIs. Every upstream resource URI `U` of server `S` is published as
//! `hub://S/U`: the server's name as the authority and the upstream URI appended as it is
//! (`hub://ev/demo://resource/static/document/x.md`); templates likewise (`hub://S/` + the
//! upstream template). Two servers' resources can never share a URI, and a published URI goes
//! back to its server by parsing, not lookup: server names cannot contain '/', so the first
//! '/' after the authority ends the server's name.
//!
//! Results carry URIs too (read contents, resource links and embedded resources in tool and
//! prompt results); they are rewritten to the hub's form so that a client reads them here.

use rmcp::model::{ContentBlock, ResourceContents};

/// What published URIs start with.
const PREFIX: &str = "hub://";

/// The published URI (or URI template) of `upstream` from `server`.
pub fn publish(server: &str, upstream: &str) -> String {
    let mut uri = String::with_capacity(PREFIX.len() + server.len() + 1 + upstream.len());
    uri.push_str(PREFIX);
    uri.push_str(server);
    uri.push('/');
    uri.push_str(upstream);
    uri
}

/// What a published URI stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'u> {
    pub server: &'u str,
    /// The URI the server itself uses.
    pub upstream: &'u str,
}

/// The server and upstream URI of `uri`, if it is a published URI of a server `known` accepts
/// (the hub passes its ready servers).
pub fn resolve<'u>(uri: &'u str, known: impl Fn(&str) -> bool) -> Option<Target<'u>> {
    // Schemes are case-insensitive (RFC 3986, 3.1).
    let rest = uri
        .get(..PREFIX.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(PREFIX))
        .map(|_| &uri[PREFIX.len()..])?;
    let (server, upstream) = rest.split_once('/')?;
    (!server.is_empty() && !upstream.is_empty() && known(server))
        .then_some(Target { server, upstream })
}

/// Rewrites the URIs in `block` (a resource link, or an embedded resource) from `server`'s
/// form to the hub's. Other content has none.
pub fn publish_in_block(server: &str, block: &mut ContentBlock) {
    match block {
        ContentBlock::ResourceLink(link) => link.uri = publish(server, &link.uri),
        ContentBlock::Resource(embedded) => publish_in_contents(server, &mut embedded.resource),
        _ => {}
    }
}

/// Rewrites the URI of read (or embedded) contents from `server`'s form to the hub's.
pub fn publish_in_contents(server: &str, contents: &mut ResourceContents) {
    match contents {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => *uri = publish(server, uri),
        // rmcp may add kinds of contents; one without a known URI field is left as it is.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{EmbeddedResource, Resource};

    use super::*;

    fn known(server: &str) -> bool {
        matches!(server, "ev" | "files" | "a.b-c_d")
    }

    #[test]
    fn published_uris_resolve_to_their_server_and_upstream_uri() {
        // (server, upstream)
        let cases = [
            ("ev", "demo://resource/static/document/architecture.md"),
            ("files", "file:///srv/shared/a%20b.txt"),
            ("ev", "demo://resource/dynamic/text/{resourceId}"),
            ("a.b-c_d", "x"),
            // An upstream URI that is itself a hub's (a hub registered as an upstream).
            ("ev", "hub://other/https://example.com/a?b=c#d"),
        ];
        for (server, upstream) in cases {
            let published = publish(server, upstream);
            assert_eq!(published, format!("hub://{server}/{upstream}"));
            assert_eq!(
                resolve(&published, known),
                Some(Target { server, upstream }),
                "{published}"
            );
        }
        assert_eq!(
            resolve("HUB://ev/demo://x", known),
            Some(Target {
                server: "ev",
                upstream: "demo://x"
            })
        );
    }

    #[test]
    fn other_uris_resolve_to_nothing() {
        let cases = [
            ("", "empty"),
            (
                "demo://resource/static/document/x.md",
                "an upstream's own URI",
            ),
            ("https://ev/demo://x", "another scheme"),
            ("hub:ev/demo://x", "no authority"),
            ("hub:/ev/demo://x", "no authority"),
            ("hub://", "nothing after the scheme"),
            ("hub://ev", "no upstream URI"),
            ("hub://ev/", "an empty upstream URI"),
            ("hub:///demo://x", "no server"),
            ("hub://nope/demo://x", "an unknown server"),
            ("hub://EV/demo://x", "server names are exact"),
            ("hub://ev:80/demo://x", "a port is not a server"),
            ("hüb://ev/demo://x", "a non-ASCII scheme"),
        ];
        for (uri, why) in cases {
            assert_eq!(resolve(uri, known), None, "{uri}: {why}");
        }
    }

    #[test]
    fn uris_in_results_are_rewritten() {
        let mut link = ContentBlock::resource_link(Resource::new("demo://a/1", "A 1"));
        publish_in_block("ev", &mut link);
        assert_eq!(link.as_resource_link().unwrap().uri, "hub://ev/demo://a/1");

        let mut embedded = ContentBlock::Resource(EmbeddedResource::new(ResourceContents::blob(
            "aGk=",
            "demo://b/2",
        )));
        publish_in_block("ev", &mut embedded);
        assert!(
            matches!(
                &embedded.as_resource().unwrap().resource,
                ResourceContents::BlobResourceContents { uri, .. } if uri == "hub://ev/demo://b/2"
            ),
            "{embedded:?}"
        );

        let mut text = ContentBlock::text("demo://not/a/uri/field");
        publish_in_block("ev", &mut text);
        assert_eq!(
            text,
            ContentBlock::text("demo://not/a/uri/field"),
            "text is content, not a reference"
        );

        let mut contents = ResourceContents::text("hello", "file:///x");
        publish_in_contents("files", &mut contents);
        assert!(
            matches!(&contents, ResourceContents::TextResourceContents { uri, .. } if uri == "hub://files/file:///x"),
            "{contents:?}"
        );
    }
}
