//! HTTP CONNECT to outproxies inside I2P (src/socks/http_connect.rs): the response parser,
//! the request builder and the outproxy list parser.
//!
//! Input: the bytes an outproxy answers with (also used as a host name and a list).
//! Invariants beyond "no panic":
//! * a complete header is found at the same place whatever follows it, and every prefix of
//!   the input is either incomplete or gives the same answer;
//! * the header length lies within the input and within the header limit;
//! * a request is either refused or holds exactly three line breaks (no header injection);
//! * a parsed outproxy list prints back to entries that parse to the same list.
#![no_main]

use i2psocks::socks::http_connect::{
    MAX_RESPONSE_HEADER, connect_request, parse_list, parse_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = parse_response(data);
    if let Ok(Some(response)) = &whole {
        assert!(response.header_len <= data.len());
        assert!(response.header_len <= MAX_RESPONSE_HEADER);
        assert!((100..600).contains(&response.status));
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\r\n\r\nmore");
        assert_eq!(parse_response(&longer), whole);
    }
    for cut in [data.len() / 2, data.len().saturating_sub(1)] {
        match parse_response(&data[..cut]) {
            Ok(None) => {}
            prefix @ Ok(Some(_)) => assert_eq!(prefix, whole, "prefix {cut}"),
            Err(_) => assert!(whole.is_err(), "prefix {cut} refused, whole {whole:?}"),
        }
    }

    let port = data.len() as u16;
    if let Ok(request) = connect_request(data, port) {
        assert_eq!(request.iter().filter(|&&b| b == b'\n').count(), 3);
        assert!(request.starts_with(b"CONNECT "));
    }

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(list) = parse_list(text)
    {
        let printed: Vec<String> = list.iter().map(|o| o.to_string()).collect();
        assert_eq!(parse_list(&printed.join(",")), Ok(list));
    }
});
