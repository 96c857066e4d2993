//! Markdown text helpers shared by every rendered report (SUMMARY.md, COMPARE.md, merge tables,
//! the results index): escaping, code spans, number formats.

/// Placeholder for an empty value: not applicable or not measured (never zero).
pub const NA: &str = "—";

/// Escapes text for a markdown table cell or list item: backslashes and pipes (which would
/// split a table cell) are escaped, `<` is written `&lt;` (so text is never read as HTML), line
/// breaks become spaces.
pub fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace(['\n', '\r'], " ")
}

/// Inline code span that survives backticks in the text. Only pipes are escaped: inside a code
/// span GFM tables still need `\|`, while backslashes are literal.
pub fn code(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.contains('`') { format!("`` {s} ``") } else { format!("`{s}`") }
}

/// A float with `decimals` decimals, or [`NA`].
pub fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NA.to_string(), |x| format!("{x:.decimals$}"))
}

/// An integer with thousands separators, or [`NA`].
pub fn int(v: Option<u64>) -> String {
    v.map_or_else(|| NA.to_string(), group_thousands)
}

/// `1234567` → `1,234,567`.
pub fn group_thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_tables_intact() {
        assert_eq!(esc("a|b\nc<d"), "a\\|b c&lt;d");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(num(None, 2), NA);
        assert_eq!(int(Some(1000)), "1,000");
    }
}
