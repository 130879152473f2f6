//! Which paths an upload leaves out: the built-in directories and the archive's `.gitignore` files,
//! matched the way `git check-ignore` does.
//!
//! Hand-written (no `regex`): the pattern language is small, and git's own `wildmatch` algorithm
//! is a short backtracking matcher whose "abort" results keep `*a*a*a…` patterns polynomial.
//! Supported: comments, blank lines, `!` negation, trailing `/` (directories only), a leading or
//! inner `/` anchoring the pattern to its `.gitignore`'s directory, `*`, `?`, `[a-z]`, `[!x]`,
//! `[^x]`, `**` (leading, trailing, inner), `\` escapes, trailing spaces (dropped unless escaped),
//! CRLF line ends and a UTF-8 BOM. Not supported: POSIX classes (`[[:alpha:]]`) and case folding
//! (`core.ignorecase`).
//!
//! Precedence is git's: a deeper `.gitignore` overrides a shallower one, a later line overrides an
//! earlier one, and a path inside an ignored directory stays ignored whatever a negation says
//! (git never descends into it).

use std::collections::HashMap;

/// Directories left out at any depth, whatever the `.gitignore` files say: version-control data,
/// dependencies and build output, which are large and are not the user's code.
pub const BUILT_IN_DIRECTORIES: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "dist",
    "build",
];

/// Whether a directory of `path` (not its last component) is one of [`BUILT_IN_DIRECTORIES`].
pub fn in_built_in_directory(path: &str) -> bool {
    let mut components = path.split('/');
    components.next_back();
    components.any(|component| BUILT_IN_DIRECTORIES.contains(&component))
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<u8>,
    negated: bool,
    directory_only: bool,
    /// Matched against the path relative to the `.gitignore`'s directory, rather than the name.
    anchored: bool,
}

#[derive(Debug, Clone)]
struct IgnoreFile {
    /// The directory holding the `.gitignore`, `""` for the root.
    directory: String,
    depth: usize,
    patterns: Vec<Pattern>,
}

/// The `.gitignore` files of one upload.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    /// Deepest first, so the first file with a matching line decides.
    files: Vec<IgnoreFile>,
    pattern_count: usize,
    /// Whether each directory seen so far is ignored (itself or through an ancestor).
    directories: HashMap<String, bool>,
}

impl IgnoreRules {
    pub fn new() -> IgnoreRules {
        IgnoreRules::default()
    }

    /// The number of patterns added so far (comments and blank lines not counted).
    pub fn pattern_count(&self) -> usize {
        self.pattern_count
    }

    /// Adds the `.gitignore` found in `directory` (`""` for the root) with its text.
    pub fn add(&mut self, directory: &str, text: &str) {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let patterns: Vec<Pattern> = text.split('\n').filter_map(parse_line).collect();
        self.pattern_count += patterns.len();
        let depth = if directory.is_empty() {
            0
        } else {
            directory.split('/').count()
        };
        let file = IgnoreFile {
            directory: directory.to_owned(),
            depth,
            patterns,
        };
        let at = self.files.partition_point(|other| other.depth >= depth);
        self.files.insert(at, file);
        self.directories.clear();
    }

    /// Whether `path` (a file, or a directory when `is_directory`) is ignored.
    pub fn is_ignored(&mut self, path: &str, is_directory: bool) -> bool {
        if let Some((parent, _)) = path.rsplit_once('/') {
            if self.directory_ignored(parent) {
                return true;
            }
        }
        self.excluded(path, is_directory)
    }

    fn directory_ignored(&mut self, directory: &str) -> bool {
        if let Some(&known) = self.directories.get(directory) {
            return known;
        }
        let ignored = match directory.rsplit_once('/') {
            Some((parent, _)) if self.directory_ignored(parent) => true,
            _ => self.excluded(directory, true),
        };
        self.directories.insert(directory.to_owned(), ignored);
        ignored
    }

    /// The verdict of the patterns alone on `path`, ancestors not considered.
    fn excluded(&self, path: &str, is_directory: bool) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        for file in &self.files {
            let relative = if file.directory.is_empty() {
                path
            } else {
                match path
                    .strip_prefix(file.directory.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                {
                    Some(relative) => relative,
                    None => continue,
                }
            };
            for pattern in file.patterns.iter().rev() {
                if pattern.directory_only && !is_directory {
                    continue;
                }
                let subject = if pattern.anchored { relative } else { name };
                if wildmatch(&pattern.glob, subject.as_bytes()) == Outcome::Match {
                    return !pattern.negated;
                }
            }
        }
        false
    }
}

fn parse_line(line: &str) -> Option<Pattern> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.starts_with('#') {
        return None;
    }
    let line = trim_trailing_spaces(line);
    let (negated, rest) = match line.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (directory_only, rest) = match rest.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let anchored = rest.contains('/');
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if rest.is_empty() {
        return None;
    }
    Some(Pattern {
        glob: collapse_double_stars(rest.as_bytes()),
        negated,
        directory_only,
        anchored,
    })
}

/// `glob` with each run of `**/**/…` written once: the same set of paths, but matching a run of
/// k of them against a deep path costs 2^k, so a hostile `.gitignore` could spend seconds.
fn collapse_double_stars(glob: &[u8]) -> Vec<u8> {
    let mut collapsed: Vec<u8> = Vec::with_capacity(glob.len());
    let mut rest = glob;
    // Whether `collapsed` ends with a `**/` that began at a boundary (not `\**/`, not `x**/`).
    let mut after_double_star = false;
    while !rest.is_empty() {
        let at_boundary = collapsed.is_empty() || collapsed.ends_with(b"/");
        if at_boundary && rest.starts_with(b"**/") {
            if !after_double_star {
                collapsed.extend_from_slice(b"**/");
            }
            after_double_star = true;
            rest = &rest[3..];
            continue;
        }
        after_double_star = false;
        let (&byte, tail) = rest.split_first().unwrap_or((&0, &[]));
        collapsed.push(byte);
        rest = tail;
        if byte == b'\\' {
            if let Some((&escaped, tail)) = rest.split_first() {
                collapsed.push(escaped);
                rest = tail;
            }
        }
    }
    collapsed
}

/// `line` without its trailing spaces, except one escaped by a backslash (`a\ ` keeps `a\ `).
fn trim_trailing_spaces(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut end = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b' ' => {}
            b'\\' => {
                index += 1;
                end = (index + 1).min(bytes.len());
            }
            _ => end = index + 1,
        }
        index += 1;
    }
    line.get(..end).unwrap_or(line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Match,
    NoMatch,
    /// No later position of an enclosing `*` can match either.
    AbortAll,
    /// Only an enclosing `**` may still match, by crossing a `/`.
    AbortToStarStar,
}

/// git's `wildmatch(pattern, text, WM_PATHNAME)`: `*`, `?` and classes never match `/`; `**`
/// between slashes (or at either end) matches any number of directories.
fn wildmatch(pattern: &[u8], text: &[u8]) -> Outcome {
    let mut p = 0;
    let mut t = 0;
    while let Some(&pattern_byte) = pattern.get(p) {
        let text_byte = match text.get(t) {
            Some(&byte) => byte,
            None if pattern_byte != b'*' => return Outcome::AbortAll,
            None => 0,
        };
        match pattern_byte {
            b'\\' => {
                p += 1;
                if pattern.get(p) != Some(&text_byte) {
                    return Outcome::NoMatch;
                }
            }
            b'?' => {
                if text_byte == b'/' {
                    return Outcome::NoMatch;
                }
            }
            b'*' => {
                let first_star = p;
                p += 1;
                let mut match_slash = false;
                if pattern.get(p) == Some(&b'*') {
                    while pattern.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    let after_slash = first_star == 0 || pattern.get(first_star - 1) == Some(&b'/');
                    let before_slash = match pattern.get(p) {
                        None | Some(b'/') => true,
                        Some(b'\\') => pattern.get(p + 1) == Some(&b'/'),
                        _ => false,
                    };
                    if after_slash && before_slash {
                        // `**/` may also match no directory at all.
                        if pattern.get(p) == Some(&b'/')
                            && wildmatch(&pattern[p + 1..], &text[t..]) == Outcome::Match
                        {
                            return Outcome::Match;
                        }
                        match_slash = true;
                    }
                }
                let rest = &text[t..];
                match pattern.get(p) {
                    None => {
                        return if !match_slash && rest.contains(&b'/') {
                            Outcome::AbortToStarStar
                        } else {
                            Outcome::Match
                        };
                    }
                    Some(b'/') if !match_slash => {
                        // `*/` covers exactly the rest of this directory name.
                        match rest.iter().position(|&byte| byte == b'/') {
                            Some(offset) => {
                                t += offset;
                                continue;
                            }
                            None => return Outcome::AbortAll,
                        }
                    }
                    _ => {}
                }
                let tail = &pattern[p..];
                while t < text.len() {
                    let outcome = wildmatch(tail, &text[t..]);
                    if outcome != Outcome::NoMatch {
                        if !match_slash || outcome != Outcome::AbortToStarStar {
                            return outcome;
                        }
                    } else if !match_slash && text.get(t) == Some(&b'/') {
                        return Outcome::AbortToStarStar;
                    }
                    t += 1;
                }
                return Outcome::AbortAll;
            }
            b'[' => {
                p += 1;
                let negated = matches!(pattern.get(p), Some(b'!' | b'^'));
                if negated {
                    p += 1;
                }
                let mut matched = false;
                let mut previous: Option<u8> = None;
                loop {
                    let Some(&class_byte) = pattern.get(p) else {
                        return Outcome::AbortAll;
                    };
                    let mut current = Some(class_byte);
                    if class_byte == b'\\' {
                        p += 1;
                        let Some(&escaped) = pattern.get(p) else {
                            return Outcome::AbortAll;
                        };
                        matched |= escaped == text_byte;
                        current = Some(escaped);
                    } else if class_byte == b'-'
                        && previous.is_some()
                        && !matches!(pattern.get(p + 1), None | Some(b']'))
                    {
                        p += 1;
                        let mut high = pattern.get(p).copied().unwrap_or(0);
                        if high == b'\\' {
                            p += 1;
                            let Some(&escaped) = pattern.get(p) else {
                                return Outcome::AbortAll;
                            };
                            high = escaped;
                        }
                        let low = previous.unwrap_or(0);
                        matched |= low <= text_byte && text_byte <= high;
                        current = None;
                    } else {
                        matched |= class_byte == text_byte;
                    }
                    previous = current;
                    p += 1;
                    if pattern.get(p) == Some(&b']') {
                        break;
                    }
                }
                if matched == negated || text_byte == b'/' {
                    return Outcome::NoMatch;
                }
            }
            literal => {
                if literal != text_byte {
                    return Outcome::NoMatch;
                }
            }
        }
        p += 1;
        t += 1;
    }
    if t == text.len() {
        Outcome::Match
    } else {
        Outcome::NoMatch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct GitCase {
        name: &'static str,
        gitignores: &'static [(&'static str, &'static str)],
        ignored: &'static [&'static str],
        kept: &'static [&'static str],
    }

    /// Expectations produced once by real git 2.47 (`git ls-files --others --exclude-standard` in a
    /// repository holding exactly these files and `.gitignore`s).
    const GIT_CASES: &[GitCase] = &[
        GitCase {
            name: "comments_and_blank",
            gitignores: &[("", "# a.txt\n\n  \nb.txt\n")],
            ignored: &["b.txt", "c/b.txt"],
            kept: &["a.txt", "# a.txt"],
        },
        GitCase {
            name: "escaped_hash_and_bang",
            gitignores: &[("", "\\#x\n\\!y\n")],
            ignored: &["#x", "!y"],
            kept: &["x", "y"],
        },
        GitCase {
            name: "negation",
            gitignores: &[("", "*.log\n!keep.log\n")],
            ignored: &["a.log", "d/b.log"],
            kept: &["keep.log", "d/keep.log", "a.txt"],
        },
        GitCase {
            name: "trailing_slash_dirs_only",
            gitignores: &[("", "out/\nlogs\n")],
            ignored: &["out/a.txt", "x/out/b", "logs", "x/logs/y"],
            kept: &["outfile"],
        },
        GitCase {
            name: "leading_slash_anchors",
            gitignores: &[("", "/top.txt\n/only/\n")],
            ignored: &["top.txt", "only/a"],
            kept: &["d/top.txt", "d/only/a"],
        },
        GitCase {
            name: "inner_slash_anchors",
            gitignores: &[("", "doc/frotz\n")],
            ignored: &["doc/frotz/x"],
            kept: &["a/doc/frotz"],
        },
        GitCase {
            name: "star_and_question",
            gitignores: &[("", "*.py[co]\nfile?.txt\n")],
            ignored: &["a.pyc", "a.pyo", "file1.txt", "d/file2.txt"],
            kept: &["a.py", "file12.txt", "file/.txt"],
        },
        GitCase {
            name: "star_does_not_cross_slash",
            gitignores: &[("", "a/*.txt\n")],
            ignored: &["a/x.txt"],
            kept: &["a/b/x.txt", "x.txt"],
        },
        GitCase {
            name: "classes",
            gitignores: &[("", "[a-c].md\n[!x]y.md\n[^q]z.md\n[]]w\n")],
            ignored: &["a.md", "b.md", "ay.md", "az.md", "]w"],
            kept: &["d.md", "xy.md", "qz.md", "aw"],
        },
        GitCase {
            name: "leading_double_star",
            gitignores: &[("", "**/foo\n**/bar/baz\n")],
            ignored: &["foo", "x/foo", "x/y/foo", "bar/baz", "x/bar/baz"],
            kept: &["baz"],
        },
        GitCase {
            name: "trailing_double_star",
            gitignores: &[("", "abc/**\n")],
            ignored: &["abc/x", "abc/y/z"],
            kept: &["x/abc/q"],
        },
        GitCase {
            name: "inner_double_star",
            gitignores: &[("", "a/**/b\n")],
            ignored: &["a/b", "a/x/b", "a/x/y/b"],
            kept: &["a/bb", "x/a/b"],
        },
        GitCase {
            name: "double_star_not_at_boundary",
            gitignores: &[("", "a**b\nc/**d\n")],
            ignored: &["aXb", "axyb", "c/d", "c/xd"],
            kept: &["a/b", "c/x/d"],
        },
        GitCase {
            name: "trailing_spaces",
            gitignores: &[("", "sp.txt   \nesc\\ \n")],
            ignored: &["sp.txt", "esc "],
            kept: &["esc"],
        },
        GitCase {
            name: "crlf_lines",
            gitignores: &[("", "a.txt\r\nb/\r\n")],
            ignored: &["a.txt", "b/c"],
            kept: &["a.tx"],
        },
        GitCase {
            name: "nested_overrides_parent",
            gitignores: &[("", "*.txt\n"), ("sub", "!keep.txt\n")],
            ignored: &["a.txt", "sub/other.txt", "keep.txt"],
            kept: &["sub/keep.txt"],
        },
        GitCase {
            name: "nested_scoped_to_own_dir",
            gitignores: &[("sub", "*.md\n/root.txt\n")],
            ignored: &["sub/a.md", "sub/deep/b.md", "sub/root.txt"],
            kept: &["a.md", "root.txt", "sub/x/root.txt"],
        },
        GitCase {
            name: "ignored_dir_cannot_be_reincluded",
            gitignores: &[("", "build2/\n!build2/keep.txt\n")],
            ignored: &["build2/keep.txt", "build2/other.txt"],
            kept: &[],
        },
        GitCase {
            name: "dir_contents_star_then_negate",
            gitignores: &[("", "vendor/*\n!vendor/keep/\n")],
            ignored: &["vendor/a.js"],
            kept: &["vendor/keep/b.js", "vendor/keep/c/d.js"],
        },
        GitCase {
            name: "gitignore_in_ignored_dir_is_ignored",
            gitignores: &[("", "gen/\n"), ("gen", "!x.txt\n")],
            ignored: &["gen/x.txt"],
            kept: &["x.txt"],
        },
        GitCase {
            name: "negated_dir_pattern",
            gitignores: &[("", "*\n!*/\n!*.rs\n")],
            ignored: &["a.txt", "src/c.txt"],
            kept: &["a.rs", "src/b.rs"],
        },
        GitCase {
            name: "escaped_star",
            gitignores: &[("", "\\*.txt\n")],
            ignored: &["*.txt"],
            kept: &["a.txt"],
        },
        GitCase {
            name: "star_slash_mid",
            gitignores: &[("", "a/*/c\n")],
            ignored: &["a/b/c"],
            kept: &["a/b/x/c", "a/c"],
        },
        GitCase {
            name: "range_with_escape",
            gitignores: &[("", "x[\\-a]\n")],
            ignored: &["x-", "xa"],
            kept: &["xb"],
        },
        GitCase {
            name: "unclosed_class",
            gitignores: &[("", "x[ab\n")],
            ignored: &[],
            kept: &["x[ab", "xa"],
        },
        GitCase {
            name: "bom_first_line",
            gitignores: &[("", "\u{feff}bomfile\n")],
            ignored: &["bomfile"],
            kept: &["other"],
        },
        GitCase {
            name: "deep_negation_order",
            gitignores: &[("", "!a.txt\n*.txt\n")],
            ignored: &["a.txt", "b.txt"],
            kept: &[],
        },
        GitCase {
            name: "question_no_slash",
            gitignores: &[("", "a?b\n")],
            ignored: &["axb"],
            kept: &["a/b"],
        },
    ];

    #[test]
    fn agrees_with_git_check_ignore() {
        for case in GIT_CASES {
            let mut rules = IgnoreRules::new();
            for (directory, text) in case.gitignores {
                rules.add(directory, text);
            }
            for path in case.ignored {
                assert!(
                    rules.is_ignored(path, false),
                    "{}: {path} should be ignored",
                    case.name
                );
            }
            for path in case.kept {
                assert!(
                    !rules.is_ignored(path, false),
                    "{}: {path} should be kept",
                    case.name
                );
            }
        }
    }

    #[test]
    fn built_in_directories_at_any_depth_but_not_files() {
        assert!(in_built_in_directory("node_modules/a/index.js"));
        assert!(in_built_in_directory("web/node_modules/a.js"));
        assert!(in_built_in_directory("crate/target/debug/x"));
        assert!(in_built_in_directory(".git/config"));
        assert!(in_built_in_directory("pkg/__pycache__/m.pyc"));
        assert!(
            !in_built_in_directory("build"),
            "a file named build is kept"
        );
        assert!(!in_built_in_directory("src/build.rs"));
        assert!(!in_built_in_directory("builder/x.rs"));
    }

    #[test]
    fn repeated_double_stars_collapse() {
        assert_eq!(collapse_double_stars(b"**/**/**/z"), b"**/z");
        assert_eq!(collapse_double_stars(b"a/**/**/b/**"), b"a/**/b/**");
        assert_eq!(collapse_double_stars(b"x**/**/y"), b"x**/**/y");
        assert_eq!(collapse_double_stars(b"\\**/**/y"), b"\\**/**/y");
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let mut rules = IgnoreRules::new();
        rules.add(
            "",
            "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n**/**/**/**/**/**/**/**/**/z\n",
        );
        let long_name = "a".repeat(1000);
        let deep = "x/".repeat(400) + "y";
        let started = std::time::Instant::now();
        assert!(!rules.is_ignored(&long_name, false));
        assert!(!rules.is_ignored(&deep, false));
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }
}
