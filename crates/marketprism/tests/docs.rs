//! Every command the documentation shows exists.
//!
//! The shell blocks (```` ```sh ````, ```` ```bash ````, ```` ```shell ````, ```` ```console ````)
//! of `README.md` and `docs/*.md` are read as a shell would split them: `$ ` prompts (a
//! `console` block's other lines are output), `\` line continuations, quotes, comments,
//! `&&`/`||`/`;`/`|` chains, redirections and leading `VAR=value` assignments. Every command
//! that runs `marketprism` (by name or path, or through `cargo run -p marketprism --`) or
//! `cargo xtask` is parsed against the real clap definitions, `marketprism::cli::Cli` and
//! `xtask::cli::Cli`, and the options `cargo xtask e2e` and `cargo xtask bench` hand to the
//! harness against its own, without running anything. An unknown subcommand, flag or value
//! fails the test, naming the file and line.

use std::path::{Path, PathBuf};

use clap::error::ErrorKind;
use clap::Parser;

/// The documents whose commands are checked; each must exist.
const REQUIRED_DOCS: [&str; 4] = [
    "README.md",
    "docs/QUICK_START.md",
    "docs/DEPLOYMENT.md",
    "docs/TROUBLESHOOTING.md",
];

/// Fence languages whose lines are shell commands.
const SHELL_LANGUAGES: [&str; 4] = ["sh", "bash", "shell", "console"];

/// Programs that run the command after them (`sudo marketprism up`).
const WRAPPERS: [&str; 4] = ["sudo", "env", "exec", "time"];

/// A command as the documentation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shown {
    /// Line of the document where the command starts (1-based).
    line: usize,
    /// Its words, quotes removed.
    words: Vec<String>,
    /// How the block shows it.
    style: Style,
}

/// The options of the end-to-end harness, as `cargo xtask e2e` passes them on.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask e2e")]
struct E2eHarness {
    #[command(flatten)]
    args: marketprism_tests::e2e::Args,
}

/// The options of the benchmark harness, as `cargo xtask bench` passes them on.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask bench")]
struct BenchHarness {
    #[command(flatten)]
    args: marketprism_tests::bench::Args,
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `README.md` and every Markdown file in `docs/`, relative to the repository.
fn documents() -> Vec<String> {
    let mut documents = vec!["README.md".to_owned()];
    let docs = repository().join("docs");
    let mut names: Vec<String> = std::fs::read_dir(&docs)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", docs.display()))
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    documents.extend(names.into_iter().map(|name| format!("docs/{name}")));
    documents
}

/// How a block shows commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A shell block: commands as typed.
    Shell,
    /// A block without a language: a synopsis, where `[...]` marks what is optional,
    /// `<...>` and upper-case words stand for values, `a|b` within a word and ` | ` between
    /// words offer alternatives.
    Synopsis,
}

/// The command lines of `markdown`: each logical line of its shell blocks (continuations
/// joined, prompts removed) and each line of its blocks without a language, with the line it
/// starts on and the block's style.
fn shell_lines(markdown: &str) -> Vec<(usize, String, Style)> {
    let mut commands = Vec::new();
    // The open shell block's fence (its backticks) and whether it is a console transcript;
    // `other` holds the fence of an open block in another language, and whether it is a
    // block without one.
    let mut shell: Option<(String, bool)> = None;
    let mut other: Option<(String, bool)> = None;
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in markdown.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_start();
        if let Some((fence, untagged)) = &other {
            if line.starts_with(fence.as_str()) && line[fence.len()..].trim().is_empty() {
                other = None;
            } else if *untagged {
                commands.push((number, line.to_owned(), Style::Synopsis));
            }
            continue;
        }
        if let Some((fence, console)) = &shell {
            if line.starts_with(fence.as_str()) && line[fence.len()..].trim().is_empty() {
                shell = None;
                pending = None;
                continue;
            }
            let text = match pending.take() {
                Some((start, mut joined)) => {
                    joined.push(' ');
                    joined.push_str(line);
                    (start, joined)
                }
                None if *console => match line.strip_prefix("$ ") {
                    Some(command) => (number, command.to_owned()),
                    None => continue,
                },
                None => (number, line.to_owned()),
            };
            match text.1.strip_suffix('\\') {
                Some(continued) => pending = Some((text.0, continued.trim_end().to_owned())),
                None => commands.push((text.0, text.1, Style::Shell)),
            }
            continue;
        }
        if line.starts_with("```") {
            let fence: String = line.chars().take_while(|&c| c == '`').collect();
            let info = line[fence.len()..].trim();
            let language = info.split([' ', ',', '{']).next().unwrap_or_default();
            if SHELL_LANGUAGES.contains(&language) {
                shell = Some((fence, language == "console"));
            } else {
                other = Some((fence, language.is_empty()));
            }
        }
    }
    commands
}

/// A shell token: a word, or an operator between commands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// `&&`, `||`, `;`, `|`, `&`: the next word starts a command.
    Separator,
    /// `>`, `>>`, `<`, `2>&1`, ...: the next word, if any, is its target.
    Redirect {
        has_target: bool,
    },
}

/// Splits one logical line as a POSIX shell would, far enough to find commands and their
/// words: quotes, backslashes, `$(...)` kept inside a word, comments, operators.
fn tokens(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let finish = |tokens: &mut Vec<Token>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => finish(&mut tokens, &mut word, &mut in_word),
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' in {line:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated \" in {line:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" in {line:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                // A command substitution stays part of the word, unexpanded.
                in_word = true;
                word.push(c);
                let mut depth = 0;
                for c in chars.by_ref() {
                    word.push(c);
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            '&' | '|' | ';' => {
                finish(&mut tokens, &mut word, &mut in_word);
                if matches!(chars.peek(), Some('&' | '|')) && c != ';' {
                    chars.next();
                }
                tokens.push(Token::Separator);
            }
            '>' | '<' => {
                // A word of digits right before is the descriptor redirected (`2>`).
                if in_word && word.chars().all(|c| c.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                finish(&mut tokens, &mut word, &mut in_word);
                if chars.peek() == Some(&'>') {
                    chars.next();
                }
                if chars.peek() == Some(&'&') {
                    // `>&1`: duplicates a descriptor; no file follows.
                    chars.next();
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    tokens.push(Token::Redirect { has_target: false });
                } else {
                    tokens.push(Token::Redirect { has_target: true });
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    finish(&mut tokens, &mut word, &mut in_word);
    Ok(tokens)
}

/// The simple commands of one logical line: their words, redirections and leading
/// assignments removed.
fn simple_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut skip_target = false;
    for token in tokens(line)? {
        match token {
            Token::Word(_) if skip_target => skip_target = false,
            Token::Word(word) => {
                let assignment = current.is_empty()
                    && word.split_once('=').is_some_and(|(name, _)| {
                        !name.is_empty()
                            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !name.starts_with(|c: char| c.is_ascii_digit())
                    });
                let wrapper = current.is_empty() && WRAPPERS.contains(&word.as_str());
                if !assignment && !wrapper {
                    current.push(word);
                }
            }
            Token::Separator => {
                skip_target = false;
                if !current.is_empty() {
                    commands.push(std::mem::take(&mut current));
                }
            }
            Token::Redirect { has_target } => skip_target = has_target,
        }
    }
    if !current.is_empty() {
        commands.push(current);
    }
    Ok(commands)
}

/// The commands of `markdown` that run `marketprism` or `cargo xtask`.
fn shown_commands(markdown: &str) -> Result<Vec<Shown>, String> {
    let mut shown = Vec::new();
    for (line, text, style) in shell_lines(markdown) {
        let commands = match style {
            Style::Shell => simple_commands(&text),
            Style::Synopsis => synopsis_commands(&text),
        }
        .map_err(|error| format!("line {line}: {error}"))?;
        for words in commands {
            if target(&words).is_some() {
                shown.push(Shown { line, words, style });
            }
        }
    }
    Ok(shown)
}

/// The commands a synopsis line stands for: optional parts included, `<value>` as `value`,
/// each alternative of `a|b` within a word, and each of ` | ` between words (an alternative
/// without a program of its own runs the first one's, as in `marketprism status | down`).
/// A line that runs neither program gives nothing.
fn synopsis_commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    // Blocks without a language also hold diagrams and listings: only lines that start
    // with one of the programs are commands.
    let plain: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if target(&plain).is_none() {
        return Ok(Vec::new());
    }
    let cleaned: String = line
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | '<' | '>'))
        .collect();
    let mut alternatives = cleaned.split(" | ");
    let Some(first) = alternatives.next() else {
        return Ok(Vec::new());
    };
    let Some(program) = simple_commands(&expand(first).remove(0))?
        .into_iter()
        .next()
        .and_then(|words| target(&words).map(|(_, first)| words[..first].to_vec()))
    else {
        return Ok(Vec::new());
    };
    let mut commands = Vec::new();
    for (index, alternative) in std::iter::once(first).chain(alternatives).enumerate() {
        for variant in expand(alternative) {
            for mut words in simple_commands(&variant)? {
                if index > 0 && target(&words).is_none() {
                    words.splice(0..0, program.iter().cloned());
                }
                commands.push(words);
            }
        }
    }
    Ok(commands)
}

/// `text` with its first word of the form `a|b|c` replaced by each alternative in turn,
/// and so on for the others.
fn expand(text: &str) -> Vec<String> {
    let Some(word) = text
        .split_whitespace()
        .find(|word| word.contains('|') && !word.starts_with('#'))
    else {
        return vec![text.to_owned()];
    };
    word.split('|')
        .flat_map(|choice| expand(&text.replacen(word, choice, 1)))
        .collect()
}

/// Which command line a command runs, and the arguments after the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Marketprism,
    Xtask,
}

/// The command line `words` runs and the index of its first argument, or `None` for any
/// other program.
fn target(words: &[String]) -> Option<(Target, usize)> {
    let program = words.first()?;
    let name = Path::new(program).file_name()?.to_str()?;
    if name == "marketprism" {
        return Some((Target::Marketprism, 1));
    }
    if name != "cargo" {
        return None;
    }
    match words.get(1).map(String::as_str) {
        Some("xtask") => Some((Target::Xtask, 2)),
        Some("run") => {
            let separator = words.iter().position(|word| word == "--")?;
            let options = &words[2..separator];
            let runs_marketprism = options.windows(2).any(|pair| {
                matches!(pair[0].as_str(), "-p" | "--package") && pair[1] == "marketprism"
            }) || options
                .iter()
                .any(|option| option == "--package=marketprism");
            runs_marketprism.then_some((Target::Marketprism, separator + 1))
        }
        _ => None,
    }
}

/// Parses `words` against the command line it runs, without running it: the reason it
/// would be refused, or `Ok` (also for `--help` and `--version`). In a synopsis a value may
/// be a placeholder (`--count N`), so a value that does not parse is accepted there; an
/// unknown subcommand or option, or a missing one, never is.
fn check(words: &[String], style: Style) -> Result<(), String> {
    let Some((target, first)) = target(words) else {
        return Err(format!(
            "{words:?} runs neither marketprism nor cargo xtask"
        ));
    };
    let arguments = &words[first..];
    let accepted = |result: Result<(), clap::Error>| match result {
        Ok(()) => Ok(()),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            Ok(())
        }
        Err(error)
            if style == Style::Synopsis
                && matches!(
                    error.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ) =>
        {
            Ok(())
        }
        Err(error) => Err(error.render().to_string()),
    };
    match target {
        Target::Marketprism => accepted(
            marketprism::cli::Cli::try_parse_from(
                std::iter::once("marketprism").chain(arguments.iter().map(String::as_str)),
            )
            .map(drop),
        ),
        Target::Xtask => {
            let cli = xtask::cli::Cli::try_parse_from(
                std::iter::once("cargo xtask").chain(arguments.iter().map(String::as_str)),
            );
            match cli {
                Ok(xtask::cli::Cli {
                    task: xtask::cli::Task::E2e { args },
                }) => accepted(
                    E2eHarness::try_parse_from(
                        std::iter::once("cargo xtask e2e".into()).chain(args),
                    )
                    .map(drop),
                ),
                Ok(xtask::cli::Cli {
                    task: xtask::cli::Task::Bench { args },
                }) => accepted(
                    BenchHarness::try_parse_from(
                        std::iter::once("cargo xtask bench".into()).chain(args),
                    )
                    .map(drop),
                ),
                other => accepted(other.map(drop)),
            }
        }
    }
}

fn words(command: &str) -> Vec<String> {
    let mut commands = simple_commands(command).expect("splits");
    assert_eq!(commands.len(), 1, "{command:?} is one command");
    commands.remove(0)
}

#[test]
fn every_command_the_documentation_shows_parses() {
    let root = repository();
    for required in REQUIRED_DOCS {
        assert!(root.join(required).is_file(), "{required} is missing");
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let path = root.join(&document);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let shown = shown_commands(&text).unwrap_or_else(|error| panic!("{document}: {error}"));
        for command in shown {
            checked += 1;
            if let Err(error) = check(&command.words, command.style) {
                failures.push(format!(
                    "{document}:{}: `{}`\n{error}",
                    command.line,
                    command.words.join(" ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} documented commands do not parse:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The documents show dozens; a handful means the extraction broke.
    assert!(
        checked >= 20,
        "only {checked} commands found in the documentation"
    );
}

#[test]
fn a_made_up_subcommand_flag_or_value_is_refused() {
    for made_up in [
        "marketprism frobnicate",
        "marketprism up --frobnicate",
        "marketprism status --timeout soon",
        "marketprism streams delete --config storage.toml",
        "target/release/marketprism down --force",
        "cargo run --release -p marketprism -- up --simulate",
        "cargo xtask frobnicate",
        "cargo xtask deploy --fresh --frobnicate",
        "cargo xtask deploy",
        "cargo xtask e2e --scenario nonexistent",
        "cargo xtask bench --frobnicate",
    ] {
        assert!(
            check(&words(made_up), Style::Shell).is_err(),
            "{made_up:?} was accepted"
        );
    }
    for real in [
        "marketprism up --sim",
        "marketprism status --timeout 3",
        "target/release/marketprism logs collector -n 20",
        "cargo run --release -p marketprism -- up --sim --state-dir /tmp/state",
        "marketprism --help",
        "cargo xtask deploy --fresh",
        "cargo xtask e2e --scenario cluster --scenario baseline",
        "cargo xtask bench --e2e",
    ] {
        assert_eq!(check(&words(real), Style::Shell), Ok(()), "{real:?}");
    }
}

#[test]
fn commands_are_found_as_a_shell_splits_them() {
    let markdown = "\
Text with `marketprism nothing` inline.

```sh
# a comment: marketprism frobnicate
marketprism up --sim   # starts everything
MARKETPRISM_STATE_DIR=/tmp/s marketprism status && marketprism logs collector -n 5 | tail -1
cargo xtask deploy \\
  --fresh
marketprism replay capture.jsonl.gz > events.jsonl 2>&1
clickhouse-client -q 'SELECT 1 # not a comment'
```

```console
$ marketprism down --state-dir \"$HOME/state\"
Stopping collector (pid 1) ... stopped
marketprism printed this, it is output
```

```
marketprism status [--timeout 3] | down | logs <service>  # the local deployment
marketprism config show collector|storage --config FILE
exchange WS ──► collector
```

```sql
SELECT 'marketprism up'
```
";
    let shown: Vec<(usize, String, Style)> = shown_commands(markdown)
        .expect("splits")
        .into_iter()
        .map(|shown| (shown.line, shown.words.join(" "), shown.style))
        .collect();
    let expected = [
        (5, "marketprism up --sim", Style::Shell),
        (6, "marketprism status", Style::Shell),
        (6, "marketprism logs collector -n 5", Style::Shell),
        (7, "cargo xtask deploy --fresh", Style::Shell),
        (9, "marketprism replay capture.jsonl.gz", Style::Shell),
        (14, "marketprism down --state-dir $HOME/state", Style::Shell),
        (20, "marketprism status --timeout 3", Style::Synopsis),
        (20, "marketprism down", Style::Synopsis),
        (20, "marketprism logs service", Style::Synopsis),
        (
            21,
            "marketprism config show collector --config FILE",
            Style::Synopsis,
        ),
        (
            21,
            "marketprism config show storage --config FILE",
            Style::Synopsis,
        ),
    ]
    .map(|(line, words, style)| (line, words.to_owned(), style));
    assert_eq!(shown, expected);
}

#[test]
fn a_synopsis_may_hold_placeholders_but_not_unknown_options() {
    assert_eq!(
        check(
            &words("marketprism sim --count N --seed S"),
            Style::Synopsis
        ),
        Ok(())
    );
    assert!(check(&words("marketprism sim --count N"), Style::Shell).is_err());
    for made_up in [
        "marketprism up --frobnicate",
        "marketprism frobnicate --config FILE",
        "marketprism collect",
    ] {
        assert!(
            check(&words(made_up), Style::Synopsis).is_err(),
            "{made_up:?} was accepted"
        );
    }
}
