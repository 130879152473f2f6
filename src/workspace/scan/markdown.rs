//! The Markdown scanner: a document's headings, following CommonMark's block rules where they
//! decide what is a heading. ATX headings (`#` … `######`, closing `#`s removed) and setext
//! headings (a paragraph underlined with `===` or `---`) → heading named by its text. Fenced code
//! (``` and ~~~, closed by the same character at least as long), indented code, HTML comments and
//! a leading YAML front matter block hide what looks like headings inside them. Headings inside
//! block quotes and list items are not top-level items and are not listed.

use super::text::{newline_len, signature};
use super::{Symbol, SymbolKind};

/// The headings of one Markdown file, in source order.
pub fn scan(src: &[u8]) -> Vec<Symbol> {
    let lines = split_lines(src);
    let mut symbols = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut in_html_comment = false;
    // The open paragraph: its first line's index and its lines' text (for a setext heading).
    let mut paragraph: Option<(usize, Vec<&[u8]>)> = None;
    let mut index = front_matter_end(src, &lines);
    while let Some(&(start, end)) = lines.get(index) {
        let current = index;
        index += 1;
        let text = &src[start..end];
        if let Some((ch, len)) = fence {
            if closes_fence(text, ch, len) {
                fence = None;
            }
            continue;
        }
        if in_html_comment {
            in_html_comment = !contains(text, b"-->");
            continue;
        }
        let (indent, rest_at) = indentation(text);
        let rest = &text[rest_at..];
        if rest.is_empty() {
            paragraph = None;
            continue;
        }
        if indent >= 4 {
            // Indented code, unless it continues a paragraph.
            if let Some((_, para)) = &mut paragraph {
                para.push(rest);
            }
            continue;
        }
        if let Some(open) = opens_fence(rest) {
            fence = Some(open);
            paragraph = None;
            continue;
        }
        if rest.starts_with(b"<!--") {
            in_html_comment = !contains(&rest[4..], b"-->");
            paragraph = None;
            continue;
        }
        if let Some(title) = atx_heading(rest) {
            // An empty heading (`#`) names nothing to look up.
            if !title.is_empty() {
                symbols.push(heading(src, title, current, start + rest_at));
            }
            paragraph = None;
            continue;
        }
        if let Some((first, para)) = &paragraph {
            if is_setext_underline(rest) {
                let title = join_lines(para);
                let (first_start, first_end) = lines[*first];
                let at = first_start + indentation(&src[first_start..first_end]).1;
                if !title.is_empty() {
                    symbols.push(heading_text(src, title, *first, at));
                }
                paragraph = None;
                continue;
            }
        }
        if is_thematic_break(rest) || starts_container(rest) {
            paragraph = None;
            continue;
        }
        match &mut paragraph {
            Some((_, para)) => para.push(rest),
            None => paragraph = Some((current, vec![rest])),
        }
    }
    symbols
}

/// Each line's (start, end) without its ending; LF, CRLF and a lone CR end a line.
fn split_lines(src: &[u8]) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < src.len() {
        let n = newline_len(src, pos);
        if n > 0 {
            lines.push((start, pos));
            pos += n;
            start = pos;
        } else {
            pos += 1;
        }
    }
    if start < src.len() {
        lines.push((start, src.len()));
    }
    lines
}

/// The index of the first line after a YAML front matter block (`---` … `---` or `...` at the
/// very start of the file), or 0 when there is none.
fn front_matter_end(src: &[u8], lines: &[(usize, usize)]) -> usize {
    let line = |i: usize| lines.get(i).map(|&(s, e)| trim_end(&src[s..e]));
    if line(0) != Some(b"---".as_slice()) {
        return 0;
    }
    (1..lines.len())
        .find(|&i| matches!(line(i), Some(b"---" | b"...")))
        .map_or(0, |i| i + 1)
}

/// The indentation's column (a tab advances to the next multiple of 4) and its byte length.
fn indentation(line: &[u8]) -> (usize, usize) {
    let mut column = 0;
    for (i, &b) in line.iter().enumerate() {
        match b {
            b' ' => column += 1,
            b'\t' => column = column / 4 * 4 + 4,
            _ => return (column, i),
        }
    }
    (column, line.len())
}

fn trim_end(text: &[u8]) -> &[u8] {
    let end = text
        .iter()
        .rposition(|&b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &text[..end]
}

fn trim(text: &[u8]) -> &[u8] {
    let text = trim_end(text);
    let start = text
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(text.len());
    &text[start..]
}

fn contains(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len()).any(|w| w == needle)
}

/// A fence opener (after indentation): at least three backticks or tildes; a backtick fence's
/// info string may not contain a backtick.
fn opens_fence(rest: &[u8]) -> Option<(u8, usize)> {
    let ch = *rest.first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = rest.iter().take_while(|&&b| b == ch).count();
    if len < 3 || (ch == b'`' && rest[len..].contains(&b'`')) {
        return None;
    }
    Some((ch, len))
}

/// Whether `line` closes a fence of `len` × `ch`: up to 3 spaces, at least `len` of `ch`, then
/// only blanks.
fn closes_fence(line: &[u8], ch: u8, len: usize) -> bool {
    let (indent, at) = indentation(line);
    if indent >= 4 {
        return false;
    }
    let rest = &line[at..];
    let run = rest.iter().take_while(|&&b| b == ch).count();
    run >= len && trim(&rest[run..]).is_empty()
}

/// An ATX heading's text (after indentation): 1–6 `#`, then a blank or the end; the closing
/// sequence (`#`s preceded by a blank, or the whole text) is removed.
fn atx_heading(rest: &[u8]) -> Option<&[u8]> {
    let level = rest.iter().take_while(|&&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !matches!(after[0], b' ' | b'\t') {
        return None;
    }
    let text = trim(after);
    let hashes = text.iter().rev().take_while(|&&b| b == b'#').count();
    let before = &text[..text.len() - hashes];
    if hashes > 0 && (before.is_empty() || matches!(before.last(), Some(b' ' | b'\t'))) {
        return Some(trim(before));
    }
    Some(text)
}

/// A setext underline: only `=` or only `-` (any number), then blanks.
fn is_setext_underline(rest: &[u8]) -> bool {
    let text = trim_end(rest);
    match text.first() {
        Some(&ch @ (b'=' | b'-')) => text.iter().all(|&b| b == ch),
        _ => false,
    }
}

/// `***`, `---`, `___` (three or more, blanks allowed between).
fn is_thematic_break(rest: &[u8]) -> bool {
    let Some(&ch @ (b'*' | b'-' | b'_')) = rest.first() else {
        return false;
    };
    rest.iter().all(|&b| b == ch || b == b' ' || b == b'\t')
        && rest.iter().filter(|&&b| b == ch).count() >= 3
}

/// A block quote (`>`) or list item (`-`, `+`, `*`, `1.`, `1)` followed by a blank or the end):
/// their contents are not top-level blocks.
fn starts_container(rest: &[u8]) -> bool {
    let blank_or_end = |at: usize| matches!(rest.get(at), None | Some(b' ' | b'\t'));
    match rest.first() {
        Some(b'>') => true,
        Some(b'-' | b'+' | b'*') => blank_or_end(1),
        Some(b'0'..=b'9') => {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            digits <= 9 && matches!(rest.get(digits), Some(b'.' | b')')) && blank_or_end(digits + 1)
        }
        _ => false,
    }
}

/// A paragraph's lines joined by one space, as its heading's name.
fn join_lines(lines: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(line);
    }
    out
}

fn heading(src: &[u8], title: &[u8], line_index: usize, at: usize) -> Symbol {
    heading_text(src, title.to_vec(), line_index, at)
}

fn heading_text(src: &[u8], title: Vec<u8>, line_index: usize, at: usize) -> Symbol {
    Symbol {
        name: String::from_utf8_lossy(&title).into_owned(),
        kind: SymbolKind::Heading,
        line: u32::try_from(line_index + 1).unwrap_or(u32::MAX),
        container: None,
        signature: signature(src, at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headings(src: &str) -> Vec<(String, u32)> {
        scan(src.as_bytes())
            .into_iter()
            .map(|s| {
                assert_eq!(s.kind, SymbolKind::Heading);
                (s.name, s.line)
            })
            .collect()
    }

    fn h(name: &str, line: u32) -> (String, u32) {
        (name.into(), line)
    }

    #[test]
    fn atx_headings_and_closing_sequences() {
        let src = "# One\n## Two ##\n### Three #  \n#### C# is a language\n####### seven\n#nospace\n   ###### Six\n    # indented code\n#\n# #\n\\# escaped\n## Ends with # ##\n";
        assert_eq!(
            headings(src),
            vec![
                h("One", 1),
                h("Two", 2),
                h("Three", 3),
                h("C# is a language", 4),
                h("Six", 7),
                h("Ends with #", 12),
            ]
        );
    }

    #[test]
    fn setext_headings() {
        let src = "Title\n=====\n\nSub title\nover two lines\n---\n\n---\n\n- item\n---\n> quote\n---\nText\n  ===  \n";
        assert_eq!(
            headings(src),
            vec![
                h("Title", 1),
                h("Sub title over two lines", 4),
                h("Text", 14)
            ]
        );
    }

    #[test]
    fn code_blocks_hide_headings() {
        let src = "```python\n# comment\n```\n# Real\n~~~~\n# no\n~~~\n# still no\n~~~~~\n``` a`b\n# heading after a non-fence\n    # indented\nparagraph\n    # continuation\n````\n# unclosed fence runs to the end\n";
        assert_eq!(
            headings(src),
            vec![h("Real", 4), h("heading after a non-fence", 11)]
        );
    }

    #[test]
    fn front_matter_comments_and_line_endings() {
        let src = "---\ntitle: x\n---\n# A\r\n<!-- \n# hidden\n-->\n# B\r<!-- one line --> \n# C\n";
        assert_eq!(headings(src), vec![h("A", 4), h("B", 8), h("C", 10)]);
        // A thematic break that never closes is not front matter.
        assert_eq!(headings("---\n# A\n"), vec![h("A", 2)]);
    }

    #[test]
    fn signatures_and_non_utf8() {
        let s = scan(b"  ##   Install \t it ##\ncaf\xe9\n===\n");
        assert_eq!(s[0].signature, "## Install it ##");
        assert_eq!(s[0].name, "Install \t it");
        assert_eq!(s[1].name, "caf\u{fffd}");
        assert_eq!(s[1].signature, "caf\u{fffd}");
    }
}
