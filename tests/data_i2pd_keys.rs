//! Optional: a keys file written by a real i2pd (the testbed provides one).
//!
//! Set `I2PD_KEYS_FILE=/path/to/socks.dat` and `I2PD_B32=<52 chars>.b32.i2p`
//! (the address i2pd printed for it). Without them the test only says so.

use std::path::Path;

use i2psocks::data::keys_file::load;

#[test]
fn loads_keys_file_written_by_i2pd() {
    let (Ok(path), Ok(b32)) = (std::env::var("I2PD_KEYS_FILE"), std::env::var("I2PD_B32")) else {
        eprintln!("I2PD_KEYS_FILE/I2PD_B32 not set: skipping the real-i2pd keys file check");
        return;
    };
    let path = Path::new(&path);
    let before = std::fs::read(path).expect("read i2pd keys file");
    let keys = load(path).unwrap_or_else(|e| panic!("{e}"));
    let expected = b32.trim();
    let expected = if expected.ends_with(".b32.i2p") {
        expected.to_owned()
    } else {
        format!("{expected}.b32.i2p")
    };
    assert_eq!(keys.destination().b32_address(), expected);
    // i2pd layout (i2pd-reference D.2/D.3): our serialisation is the file's prefix.
    let ours = keys.to_bytes();
    assert_eq!(&before[..ours.len()], &ours[..]);
    assert!(keys.destination().verify(b"probe", &keys.sign(b"probe")));
    assert_eq!(
        std::fs::read(path).expect("re-read"),
        before,
        "loading never modifies the file"
    );
}
