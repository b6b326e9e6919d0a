//! Sizes and modes in mount options, as the kernel's tmpfs parses them.

/// `65536k`, `64m`, `1g`, `4096` → bytes; `None` for anything else (percentages included).
pub(crate) fn bytes(text: &str) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// An octal mode (`1777`, `0755`) of at most 12 bits.
pub(crate) fn mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_as_the_kernel_reads_them() {
        assert_eq!(super::bytes("65536k"), Some(64 << 20));
        assert_eq!(super::bytes("64M"), Some(64 << 20));
        assert_eq!(super::bytes("4096"), Some(4096));
        assert_eq!(super::bytes("50%"), None);
        assert_eq!(super::bytes("k"), None);
        assert_eq!(super::bytes("99999999999999999999g"), None);
        assert_eq!(super::mode("1777"), Some(0o1777));
        assert_eq!(super::mode("77777"), None);
    }
}
