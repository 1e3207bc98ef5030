//! RFC 8628 user codes: eight letters from an alphabet without look-alikes (no vowels, so no
//! words; no 0/O, 1/I/L, 5/S, 2/Z), shown as `BCDF-GHJK`.

/// 20 consonants: 20^8 ≈ 2.6·10^10 codes, typed in any case, with or without the dash.
const ALPHABET: &[u8] = b"BCDFGHJKMNPQRTVWXY34";
const LEN: usize = 8;

/// A new user code, `XXXX-XXXX`.
pub fn new_user_code() -> Option<String> {
    let mut bytes = [0u8; LEN];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    // 256 is not a multiple of 20: reject the biased top values by drawing again.
    let mut code = String::with_capacity(LEN + 1);
    let mut drawn = bytes.to_vec();
    while code.len() < LEN + 1 {
        let Some(b) = drawn.pop() else {
            let mut more = [0u8; LEN];
            aws_lc_rs::rand::fill(&mut more).ok()?;
            drawn.extend_from_slice(&more);
            continue;
        };
        if usize::from(b) >= 240 {
            continue;
        }
        if code.len() == 4 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
    }
    Some(code)
}

/// The canonical form of a typed code (`bcdf ghjk` → `BCDF-GHJK`), or None when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let chars: Vec<char> = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != LEN
        || !chars
            .iter()
            .all(|c| c.is_ascii() && ALPHABET.contains(&(*c as u8)))
    {
        return None;
    }
    let mut code: String = chars[..4].iter().collect();
    code.push('-');
    code.extend(&chars[4..]);
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_typeable_and_normalize() {
        for _ in 0..200 {
            let code = new_user_code().unwrap();
            assert_eq!(code.len(), 9);
            assert_eq!(
                normalize_user_code(&code.to_lowercase().replace('-', " ")),
                Some(code.clone())
            );
            assert!(!code.contains(['0', 'O', '1', 'I', 'L', 'A', 'E', 'U', 'S', '5', 'Z', '2']));
        }
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("BCDF-GHJO"), None);
        assert_eq!(normalize_user_code("<script>"), None);
    }
}
