//! Module settings: the `KEY=VALUE` words a user writes after a module on the command line.
//!
//! Keys starting with `nfcc.` belong to the host (e.g. `nfcc.heap`); all others are the
//! module's, read by its `nf_init` through `nfcc_config_*`. A setting the module never
//! reads is an error: a typo must not silently run with the default.

/// Prefix of the settings the host itself interprets.
pub const HOST_PREFIX: &str = "nfcc.";

/// One `KEY=VALUE` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key, e.g. `rate`.
    pub key: String,
    /// The value as written, e.g. `1M`.
    pub value: String,
}

/// Why a word is not a setting, or a value not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The word has no `=` or an empty or malformed key.
    #[error("`{0}` is not a setting: write KEY=VALUE, KEY made of letters, digits, `_`, `.`, `-`")]
    NotASetting(String),
    /// The value does not parse as an unsigned integer.
    #[error("{key}={value}: not an unsigned integer (examples: 1500, 0x5dc, 10M, 64Ki)")]
    NotANumber {
        /// Setting key.
        key: String,
        /// Setting value.
        value: String,
    },
    /// The value parses but is outside what the module accepts.
    #[error("{key}={value}: out of range, must be between {min} and {max}")]
    OutOfRange {
        /// Setting key.
        key: String,
        /// Setting value.
        value: String,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
}

/// True if `word` looks like `KEY=VALUE` (so it is a setting, not a module path).
pub fn is_setting(word: &str) -> bool {
    match word.split_once('=') {
        Some((key, _)) => valid_key(key),
        None => false,
    }
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses `KEY=VALUE`.
pub fn parse_setting(word: &str) -> Result<Setting, ConfigError> {
    match word.split_once('=') {
        Some((key, value)) if valid_key(key) => {
            Ok(Setting { key: key.to_string(), value: value.to_string() })
        }
        _ => Err(ConfigError::NotASetting(word.to_string())),
    }
}

/// Parses an unsigned integer: decimal or `0x` hex, optional suffix k/M/G/T (powers of
/// 1000) or Ki/Mi/Gi/Ti (powers of 1024). `_` may separate digits.
pub fn parse_u64(text: &str) -> Option<u64> {
    let t: String = text.trim().chars().filter(|&c| c != '_').collect();
    let (digits, mult): (&str, u64) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("K", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ]
    .iter()
    .find_map(|&(suf, m)| t.strip_suffix(suf).map(|d| (d, m)))
    .unwrap_or((&t, 1));
    let n = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()?
    };
    n.checked_mul(mult)
}

/// Parses `setting`'s value as a number in `[min, max]`.
pub fn parse_u64_in(setting: &Setting, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n = parse_u64(&setting.value).ok_or_else(|| ConfigError::NotANumber {
        key: setting.key.clone(),
        value: setting.value.clone(),
    })?;
    if n < min || n > max {
        return Err(ConfigError::OutOfRange {
            key: setting.key.clone(),
            value: setting.value.clone(),
            min,
            max,
        });
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for (text, want) in [
            ("0", Some(0)),
            ("1500", Some(1500)),
            ("0x5dc", Some(1500)),
            ("10M", Some(10_000_000)),
            ("10k", Some(10_000)),
            ("64Ki", Some(65_536)),
            ("256Mi", Some(256 << 20)),
            ("1_000", Some(1000)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", None),
            ("20000000T", None),
            ("", None),
            ("M", None),
            ("-1", None),
            ("1.5", None),
            ("abc", None),
            ("+5", None),
        ] {
            assert_eq!(parse_u64(text), want, "{text}");
        }
    }

    #[test]
    fn settings_and_paths_are_told_apart() {
        assert!(is_setting("rate=1M"));
        assert!(is_setting("nfcc.heap=64Mi"));
        assert!(is_setting("empty="));
        assert!(!is_setting("build/policer.so"));
        assert!(!is_setting("dir=x/../a.so".trim_start_matches("dir")));
        assert!(!is_setting("./a=b.so"));
        assert!(!is_setting("9x=1"));
        assert_eq!(
            parse_setting("rate=1=2").unwrap(),
            Setting { key: "rate".into(), value: "1=2".into() }
        );
        assert!(matches!(parse_setting("=3"), Err(ConfigError::NotASetting(_))));
    }

    #[test]
    fn range_errors_name_the_setting() {
        let s = Setting { key: "rate".into(), value: "0".into() };
        let e = parse_u64_in(&s, 1, 10).unwrap_err();
        assert_eq!(e.to_string(), "rate=0: out of range, must be between 1 and 10");
        let s = Setting { key: "rate".into(), value: "fast".into() };
        assert!(parse_u64_in(&s, 1, 10).unwrap_err().to_string().starts_with("rate=fast: not an"));
    }
}
