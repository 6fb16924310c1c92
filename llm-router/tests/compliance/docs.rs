//! The README shows the normalization table exactly as `params::markdown` renders it from the
//! data the adapters use; `UPDATE_FIXTURES=1` rewrites it.

use agenthub_llm_router::params::markdown;

const BEGIN: &str = "<!-- BEGIN normalization table (generated from src/params.rs) -->\n";
const END: &str = "<!-- END normalization table -->";

#[test]
fn readme_shows_the_normalization_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme.find(BEGIN).expect("README: begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README: end marker");
    let table = markdown();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        table,
        "README.md is out of date: run UPDATE_FIXTURES=1 cargo test -p agenthub-llm-router"
    );
}
