//! The reference documents in `docs/` are what the code generates now: the chat commands from
//! the parser's table, the YAML reference and JSON Schema from the file reader's schema, the
//! OpenAPI document the daemon serves.

use std::path::Path;

#[test]
fn the_generated_docs_are_current() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let stale = schedulight::docs::stale(&docs);
    assert!(
        stale.is_empty(),
        "out of date in docs/: {stale:?}; run `cargo run -- docs --out docs`"
    );
}

#[test]
fn the_docs_cover_every_command_key_and_route() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let chat = std::fs::read_to_string(docs.join("chat-commands.md")).unwrap();
    for c in schedulight::chat::COMMANDS {
        assert!(chat.contains(&format!("### `{}`", c.name)), "{}", c.name);
    }
    let yaml = std::fs::read_to_string(docs.join("yaml-reference.md")).unwrap();
    for key in schedulight::config::seed_meeting_keys() {
        assert!(yaml.contains(&format!("| `{key}` |")), "{key}");
    }
    let served = schedulight::api::openapi();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docs.join("openapi.json")).unwrap()).unwrap();
    assert_eq!(written, served);
    for name in ["user-guide.md", "README.md"] {
        assert!(docs.join(name).exists(), "{name}");
    }
}
