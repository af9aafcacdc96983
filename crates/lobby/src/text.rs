//! What text people type may contain, checked once for every place the
//! lobby stores or shows it: chat, reviews, and the game names and
//! descriptions a package declares (account names are plain ASCII already).
//!
//! Refused everywhere: control characters (line breaks where the caller
//! allows them), bidirectional overrides and isolates (which make
//! `gpj.exe` read as `exe.jpg`), and zero-width or otherwise invisible
//! characters (which make two names look the same or hide text). Each caller
//! turns a [`TextProblem`] into its own stable error code (`INVALID_MESSAGE`,
//! `INVALID_REVIEW`, `MANIFEST_INVALID`), so clients keep branching as before.

use std::fmt;

/// Whether a text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// One line: no line breaks at all (chat, names).
    Single,
    /// Line breaks (`\n`, and `\r\n`) are allowed (reviews, descriptions).
    Multi,
}

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextProblem {
    /// A control character, or a line break where none is allowed.
    Control(char),
    /// A bidirectional override, embedding, isolate or mark.
    Bidi(char),
    /// A zero-width or invisible character.
    Invisible(char),
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, c) = match *self {
            TextProblem::Control(c) => ("a control character", c),
            TextProblem::Bidi(c) => ("a text-direction control", c),
            TextProblem::Invisible(c) => ("an invisible character", c),
        };
        write!(f, "contains {what} (U+{:04X})", c as u32)
    }
}

/// Checks `text` against the rules above; the first offending character wins.
pub(crate) fn check(text: &str, lines: Lines) -> Result<(), TextProblem> {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' if lines == Lines::Multi => {}
            '\r' if lines == Lines::Multi && chars.peek() == Some(&'\n') => {}
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                return Err(TextProblem::Control(c));
            }
            c if is_bidi_control(c) => return Err(TextProblem::Bidi(c)),
            c if is_invisible(c) => return Err(TextProblem::Invisible(c)),
            _ => {}
        }
    }
    Ok(())
}

/// Unicode's bidirectional formatting characters (UAX #9): embeddings,
/// overrides, isolates and the implicit marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no visible space: zero-width space and joiners,
/// word joiner and invisible operators, the byte-order mark, soft hyphen,
/// Mongolian vowel separator, combining grapheme joiner, Hangul fillers,
/// interlinear annotation marks and the tag characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_case(text: &str, lines: Lines, expect: Result<(), TextProblem>) {
        assert_eq!(check(text, lines), expect, "{text:?} ({lines:?})");
    }

    #[test]
    fn accepts_ordinary_text_in_any_script() {
        for text in ["gg wp", "Vier gewinnt — 2 Spieler", "日本語のゲーム", "مرحبا", "ok 👍🏽 ❤️"]
        {
            check_case(text, Lines::Single, Ok(()));
        }
        check_case("line one\nline two\r\nthree", Lines::Multi, Ok(()));
    }

    #[test]
    fn refuses_controls_bidi_and_invisible_characters() {
        use TextProblem::*;
        let cases = [
            ("a\nb", Lines::Single, Err(Control('\n'))),
            ("a\rb", Lines::Multi, Err(Control('\r'))),
            ("tab\there", Lines::Multi, Err(Control('\t'))),
            ("bell\u{7}", Lines::Single, Err(Control('\u{7}'))),
            ("del\u{7f}", Lines::Single, Err(Control('\u{7f}'))),
            ("c1\u{85}", Lines::Multi, Err(Control('\u{85}'))),
            ("sep\u{2028}", Lines::Multi, Err(Control('\u{2028}'))),
            ("gpj\u{202E}exe", Lines::Single, Err(Bidi('\u{202E}'))),
            ("x\u{2066}y\u{2069}", Lines::Multi, Err(Bidi('\u{2066}'))),
            ("mark\u{200F}", Lines::Single, Err(Bidi('\u{200F}'))),
            ("ad\u{200B}min", Lines::Single, Err(Invisible('\u{200B}'))),
            ("zwj\u{200D}", Lines::Single, Err(Invisible('\u{200D}'))),
            ("\u{FEFF}bom", Lines::Multi, Err(Invisible('\u{FEFF}'))),
            ("soft\u{AD}hyphen", Lines::Single, Err(Invisible('\u{AD}'))),
            ("tag\u{E0041}", Lines::Single, Err(Invisible('\u{E0041}'))),
            ("filler\u{3164}", Lines::Single, Err(Invisible('\u{3164}'))),
        ];
        for (text, lines, expect) in cases {
            check_case(text, lines, expect);
        }
    }

    #[test]
    fn problems_name_the_character() {
        let problem = check("a\u{202E}b", Lines::Single).unwrap_err();
        assert_eq!(problem.to_string(), "contains a text-direction control (U+202E)");
    }
}
