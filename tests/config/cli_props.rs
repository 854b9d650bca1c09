//! Property tests for the i2pd-style override splitter.

use std::ffi::OsString;

use i2psocks::config::split_overrides;
use proptest::prelude::*;

proptest! {
    #[test]
    fn never_panics(args in proptest::collection::vec("\\PC{0,20}", 0..10)) {
        let _ = split_overrides(args.into_iter().map(OsString::from));
    }

    /// Arguments without a dotted option name pass through unchanged and in order.
    #[test]
    fn plain_arguments_pass_through(args in proptest::collection::vec("[a-z/=-]{0,12}", 0..10)) {
        let argv: Vec<OsString> = std::iter::once(OsString::from("prog")).chain(args.iter().map(OsString::from)).collect();
        let (rest, overrides) = split_overrides(argv.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(rest, argv);
        prop_assert!(overrides.is_empty());
    }

    /// `--k=v`, `--k v`, `-k=v` and `-k v` all give the same override.
    #[test]
    fn all_forms_agree(section in "[a-z0-9]{1,10}", key in "[a-zA-Z0-9.]{1,12}", value in "[a-zA-Z0-9.:/,]{1,12}") {
        let name = format!("{section}.{key}");
        let forms: Vec<Vec<String>> = vec![
            vec![format!("--{name}={value}")],
            vec![format!("--{name}"), value.clone()],
            vec![format!("-{name}={value}")],
            vec![format!("-{name}"), value.clone()],
        ];
        for form in forms {
            let argv = std::iter::once("p".to_owned()).chain(form.clone()).map(OsString::from);
            let (rest, overrides) = split_overrides(argv).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(rest, vec![OsString::from("p")]);
            prop_assert_eq!(overrides.len(), 1);
            prop_assert_eq!(&overrides[0].key, &name);
            prop_assert_eq!(&overrides[0].value, &value);
        }
    }
}
