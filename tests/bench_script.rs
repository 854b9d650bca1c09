//! `contrib/bench` reports the i2pd it actually ran: the one `I2PD=` names for the testbed,
//! not the one on the default path.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn bench_reports_the_i2pd_named_by_i2pd_env() {
    // A stand-in i2pd build whose `--version` no real i2pd prints.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("i2pd");
    std::fs::write(&fake, "#!/bin/sh\necho 'i2pd version 9.99.9 (0.9.99)'\n").expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/bench");
    let probe = format!(
        "import runpy; m = runpy.run_path({script:?}, run_name='bench')['machine'](); \
         print(m['i2pd_binary']); print(m['i2pd_version'])"
    );
    let out = match Command::new("python3")
        .args(["-c", &probe])
        .env("I2PD", &fake)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED: bench_reports_the_i2pd_named_by_i2pd_env: no python3");
            return;
        }
        Err(e) => panic!("python3: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!("{}\ni2pd version 9.99.9 (0.9.99)\n", fake.display())
    );
}
