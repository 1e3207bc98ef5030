//! Durations written the way people write them in manifests: `90s`, `5m`, `1h30m`, `7d`.

use std::{borrow::Cow, fmt, str::FromStr, time::Duration};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The schema pattern; [`HumanDuration::from_str`] accepts exactly this language.
pub const DURATION_PATTERN: &str = "^([0-9]{1,7}[smhd]){1,4}$";

/// A whole number of seconds written as a sum of `<n>d`, `<n>h`, `<n>m` and `<n>s` terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub const fn as_duration(self) -> Duration {
        self.0
    }

    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Self {
        d.0
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (write e.g. 90s, 5m, 1h30m, 7d)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: s.chars().take(32).collect(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        let mut total: u64 = 0;
        let mut digits = 0usize;
        let mut value: u64 = 0;
        let mut terms = 0usize;
        for c in s.chars() {
            if let Some(d) = c.to_digit(10) {
                digits += 1;
                if digits > 7 {
                    return Err(err("a term has more than 7 digits"));
                }
                value = value * 10 + u64::from(d);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                _ => return Err(err("unknown unit (use s, m, h or d)")),
            };
            if digits == 0 {
                return Err(err("a unit without a number"));
            }
            terms += 1;
            if terms > 4 {
                return Err(err("more than 4 terms"));
            }
            total = total.checked_add(value * unit).ok_or_else(|| err("too large"))?;
            digits = 0;
            value = 0;
        }
        if digits != 0 {
            return Err(err("a number without a unit"));
        }
        Ok(Self(Duration::from_secs(total)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "HumanDuration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": 32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for (text, secs) in [
            ("90s", 90),
            ("5m", 300),
            ("1h30m", 5_400),
            ("7d", 604_800),
            ("0s", 0),
        ] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
        }
        assert_eq!(HumanDuration::from_secs(5_400).to_string(), "1h30m");
        assert_eq!(HumanDuration::from_secs(90).to_string(), "1m30s");
    }

    #[test]
    fn rejects_malformed_input_with_a_reason() {
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "-5m",
            "1.5h",
            "12345678s",
            "1s1s1s1s1s",
            "5 m",
        ] {
            let err = bad.parse::<HumanDuration>().unwrap_err();
            assert!(err.to_string().contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_schema_pattern_agrees_with_the_parser_on_shape() {
        // The pattern allows at most 4 terms of at most 7 digits, as the parser does.
        assert!("1d2h3m4s".parse::<HumanDuration>().is_ok());
        assert!("9999999d".parse::<HumanDuration>().is_ok());
    }
}
