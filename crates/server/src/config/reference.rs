//! The configuration reference, docs/configuration.md, rendered from the
//! clap definitions of [`Cli`]: every subcommand, and per setting its
//! environment variable, flag, default and doc comment, grouped by help
//! heading. A test compares the rendering with the committed file, so the
//! reference cannot drift from the code; after changing a setting,
//! `UPDATE_DOCS=1 cargo test -p tasksync-server configuration` rewrites it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use clap::CommandFactory as _;

use super::Cli;

/// Where the rendering is committed, relative to the repository root.
pub const PATH: &str = "docs/configuration.md";

/// Lines of text are wrapped at this width (tables and headings are not).
const WIDTH: usize = 76;

/// docs/configuration.md as the code defines it.
pub fn markdown() -> String {
    let cli = Cli::command();
    let mut out = String::new();
    out.push_str(PREAMBLE);
    wrap(
        &mut out,
        &format!(
            "The log filter is not a flag: `RUST_LOG` (default `{}`), e.g. `debug` \
             or `info,tower_http=debug`.",
            crate::telemetry::DEFAULT_LOG_FILTER
        ),
    );
    // A setting shared by several commands (the database settings) is
    // described under the first one and named under the others.
    let mut described = BTreeSet::new();
    for command in cli.get_subcommands() {
        render_command(&mut out, &[cli.get_name()], command, &mut described);
    }
    // One trailing newline, as an editor saves the file.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

const PREAMBLE: &str = "\
<!-- Generated from crates/server/src/config/mod.rs: do not edit by hand.
     After changing a setting there, run
     `UPDATE_DOCS=1 cargo test -p tasksync-server configuration`. -->

# Configuration

Every setting is a flag of its command and an environment variable; a
flag wins over the variable. `tasksync <command> --help` prints the same
text. With no settings at all the server refuses to start, because it has
no way to send mail: set `TASKSYNC_SMTP_URL`, or `TASKSYNC_DEV=1` for the
dev mailbox (`make run` sets it). A value that cannot work (a 0 where at
least 1 is needed, a burst below the largest request) is refused at start
with a one-line reason.

Durations are written like `90s`, `15m`, `24h` or `30d`. Switches take `1`,
`true`, `yes` or `on`, and `0`, `false`, `no` or `off`. Lists are
comma-separated.

";

fn render_command(
    out: &mut String,
    parents: &[&str],
    command: &clap::Command,
    described: &mut BTreeSet<String>,
) {
    let mut path: Vec<&str> = parents.to_vec();
    path.push(command.get_name());
    let positionals: Vec<String> = command
        .get_positionals()
        .map(|a| format!(" {}", a.get_id().as_str().to_uppercase()))
        .collect();
    let _ = writeln!(out, "## `{}{}`\n", path.join(" "), positionals.concat());
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        for paragraph in about.to_string().split("\n\n") {
            wrap(out, &sentence(paragraph));
        }
    }
    let settings: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !is_builtin(a))
        .collect();
    let (seen, fresh): (Vec<&clap::Arg>, Vec<&clap::Arg>) = settings
        .into_iter()
        .partition(|a| described.contains(a.get_id().as_str()));
    if !seen.is_empty() {
        let names: Vec<String> = seen
            .iter()
            .map(|a| {
                let env = env_name(a);
                format!("[`{env}`](#{})", env.to_lowercase())
            })
            .collect();
        wrap(out, &format!("Settings, as above: {}.", names.join(", ")));
    }
    // Grouped by help heading, in the order the headings first appear.
    let mut headings: Vec<Option<&str>> = Vec::new();
    for arg in &fresh {
        if !headings.contains(&arg.get_help_heading()) {
            headings.push(arg.get_help_heading());
        }
    }
    for heading in headings {
        if let Some(heading) = heading {
            let _ = writeln!(out, "### {heading}\n");
        }
        for arg in fresh.iter().filter(|a| a.get_help_heading() == heading) {
            render_setting(out, arg);
            described.insert(arg.get_id().as_str().to_owned());
        }
    }
    // Subcommands of a subcommand (`tasksync users list`): a list item each.
    let subcommands: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|c| !is_builtin_command(c))
        .collect();
    for sub in &subcommands {
        let mut usage = format!("{} {}", path.join(" "), sub.get_name());
        for arg in sub.get_positionals() {
            usage.push(' ');
            usage.push_str(&arg.get_id().as_str().to_uppercase());
        }
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        wrap_lines(out, &format!("`{usage}`: {}", sentence(&about)), "- ", "  ");
    }
    if !subcommands.is_empty() {
        out.push('\n');
    }
}

fn render_setting(out: &mut String, arg: &clap::Arg) {
    let env = env_name(arg);
    let _ = writeln!(out, "#### `{env}`\n");
    let flag = format!("`--{}`", arg.get_long().unwrap_or_default());
    let default = default_of(arg);
    let mut facts = vec![flag];
    match default {
        Some(d) => facts.push(format!("default `{d}`")),
        None if arg.is_hide_default_value_set() => {}
        None => facts.push("unset by default".to_owned()),
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(help) => format!("`{}` ({})", v.get_name(), lower_first(&help.to_string())),
            None => format!("`{}`", v.get_name()),
        })
        .collect();
    // The switches' parser lists true/false; the preamble says how to write them.
    if !values.is_empty() && !is_switch(arg) {
        facts.push(format!("one of {}", values.join(", ")));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    for paragraph in help.split("\n\n") {
        wrap(out, &sentence(paragraph));
    }
}

/// clap drops the full stop of a one-paragraph doc comment (its `--help`
/// style); prose in the reference keeps it.
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.is_empty() || text.ends_with(['.', '!', '?', ':']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn env_name(arg: &clap::Arg) -> String {
    arg.get_env().map_or_else(
        || format!("--{}", arg.get_long().unwrap_or_default()),
        |e| e.to_string_lossy().into_owned(),
    )
}

/// The declared default, never a value from the environment; `None` when
/// there is none or it is hidden (it depends on the machine).
fn default_of(arg: &clap::Arg) -> Option<String> {
    if arg.is_hide_default_value_set() {
        return None;
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

fn is_switch(arg: &clap::Arg) -> bool {
    let names: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_owned())
        .collect();
    names.iter().any(|n| n == "true") && names.iter().any(|n| n == "false")
}

fn is_builtin(arg: &clap::Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn is_builtin_command(command: &clap::Command) -> bool {
    command.get_name() == "help"
}

fn lower_first(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// Appends `text` as one paragraph, wrapped at [`WIDTH`], and a blank line.
fn wrap(out: &mut String, text: &str) {
    wrap_lines(out, text, "", "");
    out.push('\n');
}

/// Appends `text` wrapped at [`WIDTH`], its first line after `first` and
/// the others after `rest` (a list item and its continuation).
fn wrap_lines(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty {
        out.push_str(&line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/configuration.md is what the code defines. Regenerate with
    /// `UPDATE_DOCS=1 cargo test -p tasksync-server configuration`.
    #[test]
    fn committed_configuration_reference_matches_the_code() {
        let path = format!("{}/../../{PATH}", env!("CARGO_MANIFEST_DIR"));
        let text = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &text).expect("write docs/configuration.md");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{PATH} is out of date: run `UPDATE_DOCS=1 cargo test -p tasksync-server configuration`"
        );
    }

    /// The reference has something to say about every setting.
    #[test]
    fn every_setting_has_an_environment_variable_and_a_doc_comment() {
        let cli = Cli::command();
        let mut missing = Vec::new();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments().filter(|a| !is_builtin(a)) {
                let id = arg.get_id().as_str();
                if arg.get_long().is_some() && arg.get_env().is_none() {
                    missing.push(format!("{id}: no environment variable"));
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{id}: no doc comment"));
                }
            }
        }
        assert!(missing.is_empty(), "settings without: {missing:#?}");
    }

    #[test]
    fn a_default_that_depends_on_the_machine_is_not_rendered() {
        // The reference must read the same on every machine: the number of
        // cores is said in words.
        let text = markdown();
        assert!(
            text.contains("#### `TASKSYNC_WS_THREADS`\n\n`--ws-threads`\n"),
            "{text}"
        );
        assert!(text.contains("Defaults to the number of cores"), "{text}");
    }
}
