//! `tournament soak`: a short soak of two loops writes a clean SOAK.md and exits 0; a reference
//! that is not a loop, or an unknown id, is refused with exit 2 and nothing written.

use std::process::Command;

fn tournament() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tournament"))
}

#[test]
fn short_soak_of_two_loops_is_clean_and_written() {
    let out = std::env::temp_dir().join(format!("soak-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let st = tournament()
        .args([
            "soak",
            "--seconds",
            "1",
            "--contenders",
            "main,baseline",
            "--tasks-per-round",
            "2000",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("spawn tournament");
    let stderr = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{stderr}");
    let md = std::fs::read_to_string(out.join("SOAK.md")).expect("SOAK.md written");
    assert!(md.contains("**Clean**"), "{md}");
    for id in ["`main`", "`baseline`"] {
        let row = md.lines().find(|l| l.starts_with(&format!("| {id} |"))).expect(id);
        let cols: Vec<&str> = row.split('|').map(str::trim).collect();
        // | id | wall s | rounds | accepted | … | lost | ran twice | bad drops | off | failed |
        let rounds: u64 = cols[3].parse().expect("rounds");
        let accepted: u64 = cols[4].parse().expect("accepted");
        assert!(rounds >= 3, "every ending at least once: {row}");
        assert!(accepted > 0, "{row}");
        assert_eq!(&cols[8..13], ["0", "0", "0", "0", "0"], "{row}");
    }
    assert!(stderr.contains("soak: main:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn soak_refuses_a_reference_that_is_not_a_loop_and_unknown_ids() {
    let out = std::env::temp_dir().join(format!("soak-cli-bad-{}", std::process::id()));
    for ids in ["floor", "no-such-loop"] {
        let st = tournament()
            .args(["soak", "--seconds", "1", "--contenders", ids])
            .arg("--out")
            .arg(&out)
            .output()
            .expect("spawn tournament");
        assert_eq!(st.status.code(), Some(2), "{ids}: {}", String::from_utf8_lossy(&st.stderr));
        assert!(!out.join("SOAK.md").exists(), "{ids}: nothing written on bad input");
    }
}
