//! `rust-version` in the workspace `Cargo.toml` must state what the locked dependencies actually
//! need: the highest `rust-version` any package of the resolved graph (for this host, normal,
//! build and dev dependencies alike, as `make test` builds them all) declares, and never less than
//! 1.85, the first rustc with edition 2024. Derived from `cargo metadata`, so a `Cargo.lock`
//! update that raises a dependency's floor fails here until `rust-version` follows it.

use std::process::Command;

use serde_json::Value;

/// `major.minor` of a `rust-version` string (`1.86`, `1.85.0`).
fn minor_version(s: &str) -> (u64, u64) {
    let mut it =
        s.split('.').map(|p| p.parse::<u64>().unwrap_or_else(|_| panic!("bad version {s}")));
    (it.next().expect("major"), it.next().unwrap_or(0))
}

fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc -vV runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV prints a host line")
        .to_string()
}

#[test]
fn rust_version_is_what_the_lockfile_needs() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--manifest-path"])
        .arg(manifest)
        .args(["--filter-platform", &host_triple()])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");

    let members: Vec<&str> =
        meta["workspace_members"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let resolved: Vec<&str> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let mut needed = ((1, 85), "edition 2024".to_string());
    let mut stated = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let Some(rv) = p["rust_version"].as_str() else { continue };
        if members.contains(&id) {
            stated.push((p["name"].as_str().unwrap().to_string(), minor_version(rv)));
        } else if resolved.contains(&id) && minor_version(rv) > needed.0 {
            needed = (minor_version(rv), format!("{} {}", p["name"], p["version"]));
        }
    }
    assert!(!stated.is_empty(), "no workspace member states a rust-version");
    for (name, v) in &stated {
        assert_eq!(
            *v, needed.0,
            "{name} states rust-version {}.{}, but the locked dependencies need {}.{} ({}): set \
             [workspace.package] rust-version = \"{}.{}\" in Cargo.toml",
            v.0, v.1, needed.0.0, needed.0.1, needed.1, needed.0.0, needed.0.1
        );
    }
}
