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
    // i2pd layout (docs/keys-file.md "Layout"): our serialisation is the file's prefix.
    let ours = keys.to_bytes();
    assert_eq!(&before[..ours.len()], &ours[..]);
    assert!(keys.destination().verify(b"probe", &keys.sign(b"probe")));
    assert_eq!(
        std::fs::read(path).expect("re-read"),
        before,
        "loading never modifies the file"
    );
}

/// A file i2pd 2.45.1 generated itself (see tests/data/keys/README.md).
const I2PD_FILE: &[u8] = include_bytes!("../data/keys/i2pd-2.45.1-sig7-crypto0.dat");
const I2PD_FILE_B32: &str = "6jppaefob4f7uy27kis2hx7mp7hlwjiaujx7wovhnrg6uqn2byuq.b32.i2p";

#[test]
fn accepts_fixture_written_by_i2pd_2_45_1() {
    let keys = i2psocks::data::PrivateKeys::from_bytes(I2PD_FILE).expect("i2pd's own file");
    let dest = keys.destination();
    assert_eq!(dest.b32_address(), I2PD_FILE_B32);
    assert_eq!((dest.sig_type(), dest.crypto_type()), (7, 0));
    assert_eq!(keys.to_bytes(), I2PD_FILE, "byte-identical round trip");
    // The layout we generate: block B ×11 (docs/keys-file.md "Generating keys like i2pd").
    let block = &I2PD_FILE[..32];
    assert!(I2PD_FILE[..352].chunks(32).all(|c| c == block));
    let ours = i2psocks::data::PrivateKeys::generate(7, 0)
        .expect("generate")
        .to_bytes();
    assert_eq!(ours.len(), I2PD_FILE.len());
    assert_eq!(ours[384..391], I2PD_FILE[384..391]);
}
