//! The size of a document once its fragments are expanded, bounded before
//! anything else looks at it.
//!
//! Fragments make a document's work grow faster than its text: `F1` spreads
//! `F0` twice, `F2` spreads `F1` twice, … and 27 fragments in a 1 KB request
//! stand for 2^26 selections, under any depth limit. async-graphql's
//! validation and executor expand them all (seconds of CPU and gigabytes of
//! memory, for anyone: `__typename` needs no token). [`expanded_selections`]
//! counts the selections of every operation as if its fragments were
//! expanded, computing each fragment's count once (so in time linear in the
//! document), and stops at the limit; documents over it are refused before
//! validation. The same walk refuses what the GraphQL spec forbids but
//! async-graphql accepts: a directive repeated on one location (none of
//! the executable directives is repeatable; thousands of `@skip` cost work
//! for nothing) and a subscription with other than one root field.
//!
//! Recursion is bounded too, since a stack overflow aborts the whole
//! server: [`check`] refuses text whose brackets nest deeper than
//! [`BRACKETS_LIMIT`] before async-graphql's parser (which recurses on them
//! without a limit of its own for values and types) sees it, and the walk
//! refuses selections nested deeper than [`NESTING_LIMIT`] through
//! fragments (a chain of thousands of fragments, one spreading the next).
//!
//! The fuzz crate compiles this file on its own (`fuzz/src/lib.rs`, with
//! `#[path]`), so it must not use anything of this crate (`crate::…`)
//! outside its tests.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

/// Deepest nesting of selection sets, with fragments expanded, that a
/// document may have: async-graphql's own limit (its schema builder's
/// `limit_recursive_depth`, 32 unless set, and our schema does not set
/// it), counted as it counts: an operation's selection set is at depth 0,
/// and the selections of a field, of an inline fragment and of a spread
/// fragment are one deeper. async-graphql refuses deeper documents anyway;
/// refusing them here keeps this module's own recursion off the end of the
/// stack.
pub const NESTING_LIMIT: usize = 32;

/// Deepest nesting of brackets (`{`, `[`, `(`) outside strings and
/// comments that a document's text may have. async-graphql's parser
/// recurses on each with no limit for values and types: a list value
/// nested under 2 000 deep (4 KB of text) overflows the 2 MiB stack of a
/// server thread. Selection sets within [`NESTING_LIMIT`], their arguments and
/// any sensible input value fit well under it.
pub const BRACKETS_LIMIT: usize = 64;

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// More selections than the limit, once fragments are expanded.
    Selections { limit: usize },
    /// Selections nested deeper than [`NESTING_LIMIT`], once fragments
    /// are expanded.
    Depth { limit: usize },
    /// Brackets nested deeper than [`BRACKETS_LIMIT`] in the text.
    Brackets { limit: usize },
    /// A fragment spreads itself (directly or through others).
    Cycle(String),
    /// A directive appears twice on one location.
    RepeatedDirective(String),
    /// A subscription selects other than exactly one root field.
    SubscriptionRoots(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Selections { limit } => write!(
                f,
                "the query selects more than {limit} fields once its fragments are expanded"
            ),
            Refused::Depth { limit } => write!(
                f,
                "the query nests deeper than {limit} levels once its fragments are expanded"
            ),
            Refused::Brackets { limit } => {
                write!(f, "the query nests brackets deeper than {limit} levels")
            }
            Refused::Cycle(name) => write!(f, "fragment {name} spreads itself"),
            Refused::RepeatedDirective(name) => {
                write!(f, "directive @{name} is repeated on one location")
            }
            Refused::SubscriptionRoots(n) => write!(
                f,
                "a subscription must select exactly one root field, not {n}"
            ),
        }
    }
}

/// Everything the server does with a document's text before async-graphql
/// sees it: the bracket nesting, parsing, then [`expanded_selections`].
/// `Ok(None)` for text that does not parse (the executor, parsing it again,
/// reports the syntax error; that is safe once the brackets passed).
pub fn check(text: &str, limit: usize) -> Result<Option<ExecutableDocument>, Refused> {
    if bracket_depth(text) > BRACKETS_LIMIT {
        return Err(Refused::Brackets {
            limit: BRACKETS_LIMIT,
        });
    }
    let Ok(doc) = async_graphql::parser::parse_query(text) else {
        return Ok(None);
    };
    expanded_selections(&doc, limit)?;
    Ok(Some(doc))
}

/// The deepest nesting of brackets in `text` outside strings, block strings
/// and comments, read as GraphQL's lexer reads them. A closing bracket that
/// matches no opening one cannot hide depth: the parser fails there.
pub fn bracket_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() {
                    if bytes[i..].starts_with(b"\\\"\"\"") {
                        i += 4;
                    } else if bytes[i..].starts_with(b"\"\"\"") {
                        i += 3;
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        // A string ends at its line (the parser fails there).
                        b'\n' | b'\r' => break,
                        _ => i += 1,
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Selections of every operation of `doc` with fragments expanded, or why
/// that exceeds `limit` (or [`NESTING_LIMIT`]). A spread of an unknown
/// fragment counts as one selection: validation refuses it, but only after
/// expanding everything around it, so fragments doubling spreads of unknown
/// ones must count, or 30 of them would stand for 2^29 spreads of nothing.
pub fn expanded_selections(doc: &ExecutableDocument, limit: usize) -> Result<usize, Refused> {
    let mut counter = Counter {
        doc,
        limit,
        fragments: HashMap::new(),
    };
    let mut total = 0usize;
    for (_, op) in doc.operations.iter() {
        once_each(&op.node.directives)?;
        total = total.saturating_add(counter.set(&op.node.selection_set, 0)?.selections);
        if total > limit {
            return Err(Refused::Selections { limit });
        }
        if op.node.ty == OperationType::Subscription {
            let roots = counter.roots(&op.node.selection_set, 0, 1, true)?;
            if roots != 1 {
                return Err(Refused::SubscriptionRoots(roots));
            }
        }
    }
    for fragment in doc.fragments.values() {
        once_each(&fragment.node.directives)?;
    }
    Ok(total)
}

/// Root fields of every operation of `doc`, through fragments: the
/// resolvers a request runs at the top, each of which reads or writes the
/// database (`__typename`, which does not, is free).
/// For a document [`expanded_selections`] accepted, which bounds this walk;
/// `usize::MAX` for a fragment cycle.
pub fn root_fields(doc: &ExecutableDocument) -> usize {
    let counter = Counter {
        doc,
        limit: usize::MAX,
        fragments: HashMap::new(),
    };
    doc.operations
        .iter()
        .map(|(_, op)| {
            counter
                .roots(&op.node.selection_set, 0, usize::MAX, false)
                .unwrap_or(usize::MAX)
        })
        .fold(0usize, usize::saturating_add)
}

/// Refuses a directive named twice on one location (in time linear in the
/// number of directives: a field may carry thousands).
fn once_each(directives: &[Positioned<Directive>]) -> Result<(), Refused> {
    if directives.len() < 2 {
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(directives.len());
    for d in directives {
        let name = &d.node.name.node;
        if !seen.insert(name) {
            return Err(Refused::RepeatedDirective(name.to_string()));
        }
    }
    Ok(())
}

/// What a selection set stands for, expanded.
#[derive(Debug, Clone, Copy)]
struct Counted {
    selections: usize,
    /// How much deeper than the set itself its deepest selection set is.
    height: usize,
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    limit: usize,
    /// A fragment's count once known; `None` while it is being counted.
    fragments: HashMap<&'a Name, Option<Counted>>,
}

impl<'a> Counter<'a> {
    /// Counts `set`, which is at `depth`.
    fn set(&mut self, set: &'a Positioned<SelectionSet>, depth: usize) -> Result<Counted, Refused> {
        if depth > NESTING_LIMIT {
            return Err(Refused::Depth {
                limit: NESTING_LIMIT,
            });
        }
        let mut n = 0usize;
        let mut height = 0usize;
        for item in &set.node.items {
            once_each(item.node.directives())?;
            let (add, below) = match &item.node {
                Selection::Field(field) => {
                    let sub = &field.node.selection_set;
                    if sub.node.items.is_empty() {
                        (1, None)
                    } else {
                        let c = self.set(sub, depth + 1)?;
                        (1usize.saturating_add(c.selections), Some(c.height))
                    }
                }
                Selection::InlineFragment(inline) => {
                    let c = self.set(&inline.node.selection_set, depth + 1)?;
                    (c.selections, Some(c.height))
                }
                Selection::FragmentSpread(spread) => {
                    match self.fragment(&spread.node.fragment_name.node, depth + 1)? {
                        Some(c) => (c.selections, Some(c.height)),
                        None => (1, None),
                    }
                }
            };
            if let Some(below) = below {
                height = height.max(below + 1);
            }
            n = n.saturating_add(add);
            if n > self.limit {
                return Err(Refused::Selections { limit: self.limit });
            }
        }
        Ok(Counted {
            selections: n,
            height,
        })
    }

    /// Root fields of a selection set, through fragments, or some number
    /// above `stop` once the count passes it (a fragment that nests more
    /// than the document has fragments is a cycle, which `set` has refused
    /// already).
    /// `typename`: whether `__typename` counts.
    fn roots(
        &self,
        set: &'a Positioned<SelectionSet>,
        depth: usize,
        stop: usize,
        typename: bool,
    ) -> Result<usize, Refused> {
        if depth > self.doc.fragments.len() {
            return Err(Refused::Cycle(String::new()));
        }
        let mut n = 0usize;
        for item in &set.node.items {
            n = n.saturating_add(match &item.node {
                Selection::Field(field) if !typename && field.node.name.node == "__typename" => 0,
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    self.roots(&inline.node.selection_set, depth, stop, typename)?
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(f) => self.roots(&f.node.selection_set, depth + 1, stop, typename)?,
                        None => 0,
                    }
                }
            });
            if n > stop {
                return Ok(n);
            }
        }
        Ok(n)
    }

    /// The count of fragment `name`, whose selection set is spread at
    /// `depth`; `None` for an unknown fragment. Counted once, wherever it
    /// is first spread; its height then tells whether another spread nests
    /// it too deep.
    fn fragment(&mut self, name: &'a Name, depth: usize) -> Result<Option<Counted>, Refused> {
        let counted = match self.fragments.get(name) {
            Some(Some(c)) => *c,
            Some(None) => return Err(Refused::Cycle(name.to_string())),
            None => {
                let Some(fragment) = self.doc.fragments.get(name) else {
                    return Ok(None);
                };
                self.fragments.insert(name, None);
                let c = self.set(&fragment.node.selection_set, depth)?;
                self.fragments.insert(name, Some(c));
                c
            }
        };
        if depth.saturating_add(counted.height) > NESTING_LIMIT {
            return Err(Refused::Depth {
                limit: NESTING_LIMIT,
            });
        }
        Ok(Some(counted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `N` fragments, each spreading the one before twice: 2^(N-1)
    /// selections of `__typename` under one field.
    fn doubling(n: usize) -> String {
        let mut q = format!(
            "query {{ ...F{} }}\nfragment F0 on Query {{ __typename }}\n",
            n - 1
        );
        for i in 1..n {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{j} ...F{j} }}\n",
                j = i - 1
            ));
        }
        q
    }

    fn parse(q: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(q).expect("parses")
    }

    #[test]
    fn plain_documents_count_their_fields() {
        let doc = parse("{ tasks { items { id title } nextToken } task(id: \"x\") { id } }");
        assert_eq!(expanded_selections(&doc, 100), Ok(7));
    }

    #[test]
    fn fragments_count_as_expanded_and_are_counted_once() {
        assert_eq!(expanded_selections(&parse(&doubling(5)), 1000), Ok(16));
        for n in [12, 27, 32, 64] {
            let started = std::time::Instant::now();
            // 64 fragments also nest deeper than async-graphql allows, which
            // the walk finds first (it goes depth first).
            let refused = if n > NESTING_LIMIT {
                Refused::Depth {
                    limit: NESTING_LIMIT,
                }
            } else {
                Refused::Selections { limit: 2000 }
            };
            assert_eq!(
                expanded_selections(&parse(&doubling(n)), 2000),
                Err(refused),
                "2^{} selections",
                n - 1
            );
            // Linear in the document, whatever it expands to.
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
    }

    #[test]
    fn inline_fragments_and_unknown_spreads() {
        // The spread of an unknown fragment counts as one selection.
        let doc = parse("{ ... on Query { tasks { nextToken } } ...Missing }");
        assert_eq!(expanded_selections(&doc, 100), Ok(3));
    }

    #[test]
    fn repeated_directives_and_subscriptions_of_two_roots_are_refused() {
        let skip = format!(
            "{{ tasks {} {{ nextToken }} }}",
            "@skip(if: false) ".repeat(3)
        );
        assert_eq!(
            expanded_selections(&parse(&skip), 100),
            Err(Refused::RepeatedDirective("skip".into()))
        );
        let both = "@skip(if: false) @include(if: true)";
        let ok = format!("{{ tasks {both} {{ nextToken }} }}");
        assert_eq!(expanded_selections(&parse(&ok), 100), Ok(2));
        let two = "subscription { onCreateTask { id } onDeleteTask { id } }";
        assert_eq!(
            expanded_selections(&parse(two), 100),
            Err(Refused::SubscriptionRoots(2))
        );
        let hidden = "subscription { ...F } fragment F on Subscription { onCreateTask { id } onDeleteTask { id } }";
        assert_eq!(
            expanded_selections(&parse(hidden), 100),
            Err(Refused::SubscriptionRoots(2))
        );
        let one = "subscription { ... on Subscription { onCreateTask { id } } }";
        assert_eq!(expanded_selections(&parse(one), 100), Ok(2));
    }

    /// Fragments that select nothing but spread each other twice (ending
    /// in an unknown fragment) expand to no field but 2^n spreads: refused
    /// at once, and the root-field count of what is accepted stays cheap.
    #[test]
    fn doubling_spreads_of_empty_fragments_are_counted() {
        let empty = |n: usize| {
            let mut q = format!(
                "subscription {{ ...F{} }}\nfragment F0 on Subscription {{ ...Missing }}\n",
                n - 1
            );
            for i in 1..n {
                q.push_str(&format!(
                    "fragment F{i} on Subscription {{ ...F{j} ...F{j} }}\n",
                    j = i - 1
                ));
            }
            q
        };
        assert_eq!(
            expanded_selections(&parse(&empty(25)), 1000),
            Err(Refused::Selections { limit: 1000 })
        );
        let small = parse(&empty(3).replace("subscription", "query"));
        // F2 = 2 F1, F1 = 2 F0, F0 = 1 (an unknown spread counts one).
        assert_eq!(expanded_selections(&small, 1000), Ok(4));
        assert_eq!(root_fields(&small), 0);
    }

    #[test]
    fn root_fields_are_counted_through_fragments_and_aliases() {
        let doc = parse(
            "query Q { __typename a: tasks { nextToken } b: tasks { nextToken } ...R ... on Query { task(id: \"x\") { id } } }
             fragment R on Query { c: syncTasks { nextToken } d: syncTasks { nextToken } }
             mutation M { createTask(input: {title: \"t\"}) { id } }",
        );
        expanded_selections(&doc, 1000).expect("small");
        assert_eq!(
            root_fields(&doc),
            6,
            "5 of the query (__typename is free) and 1 of the mutation"
        );
    }

    #[test]
    fn a_fragment_that_spreads_itself_is_refused() {
        let doc =
            parse("{ ...A } fragment A on Query { ...B } fragment B on Query { __typename ...A }");
        assert!(matches!(
            expanded_selections(&doc, 100),
            Err(Refused::Cycle(_))
        ));
    }

    /// Runs `f` on a thread with a stack of `bytes`.
    fn on_stack<R: Send>(bytes: usize, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(bytes)
                .spawn_scoped(scope, f)
                .expect("spawn")
                .join()
                .expect("no panic")
        })
    }

    /// The stack of a server thread (tokio's default).
    const SERVER_STACK: usize = 2 << 20;

    /// `Documents::prepare` as the server runs it (long documents go to
    /// the blocking pool, whose threads have the server's stack too).
    fn prepare(query: String, limit: usize) -> Result<(), Refused> {
        let documents = crate::graphql::Documents::default();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(documents.prepare(&mut async_graphql::Request::new(query), limit))
            .map(drop)
    }

    /// `n` fragments doubling spreads of a fragment that does not exist:
    /// no field at all, but 2^(n-1) spreads for async-graphql to expand.
    fn doubling_nothing(op: &str, on: &str, n: usize) -> String {
        let mut q = format!(
            "{op} {{ ...F{} }}\nfragment F0 on {on} {{ ...Missing }}\n",
            n - 1
        );
        for i in 1..n {
            q.push_str(&format!(
                "fragment F{i} on {on} {{ ...F{j} ...F{j} }}\n",
                j = i - 1
            ));
        }
        q
    }

    /// Found by the fuzzer (fuzz/fuzz_targets/graphql_document.rs): an
    /// unknown fragment counted as nothing, so 30 fragments doubling it
    /// passed (1 KB, no token needed), and async-graphql's validation then
    /// spent minutes of CPU expanding 2^29 spreads; as a subscription,
    /// counting its root fields took as long here.
    #[test]
    fn fragments_doubling_spreads_of_unknown_ones_are_refused() {
        for (op, on) in [("query", "Query"), ("subscription", "Subscription")] {
            let started = std::time::Instant::now();
            assert_eq!(
                prepare(doubling_nothing(op, on, 30), 1000),
                Err(Refused::Selections { limit: 1000 }),
                "{op}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{op}"
            );
        }
    }

    /// A chain of fragments, each spreading the next: once nested about
    /// 10 000 deep (a 400 KB request), counting it overflowed a server
    /// thread's stack, which aborts the whole process.
    #[test]
    fn a_long_chain_of_fragments_is_refused_without_overflowing_the_stack() {
        let n = 20_000;
        let mut q = format!(
            "{{ ...F{} }}\nfragment F0 on Query {{ __typename }}\n",
            n - 1
        );
        for i in 1..n {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i - 1));
        }
        assert_eq!(
            on_stack(SERVER_STACK, move || prepare(q, 1000)),
            Err(Refused::Depth {
                limit: NESTING_LIMIT
            })
        );
    }

    /// A list value nested under 2 000 deep (4 KB) overflowed a server
    /// thread's stack in async-graphql's parser (500 deep in a debug
    /// build), which aborts the whole process.
    #[test]
    fn brackets_nested_too_deep_are_refused_before_the_parser_sees_them() {
        for n in [500, 2000, 5000] {
            for (open, close) in [("[", "]"), ("{a: ", "}")] {
                let q = format!("{{ a(x: {}1{}) }}", open.repeat(n), close.repeat(n));
                assert_eq!(
                    on_stack(SERVER_STACK, move || prepare(q, 1000)),
                    Err(Refused::Brackets {
                        limit: BRACKETS_LIMIT
                    }),
                    "{open} nested {n}"
                );
            }
        }
        let q = format!(
            "query($v: {}Int{}) {{ a }}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(on_stack(SERVER_STACK, move || check(&q, 1000)).is_err());
    }

    #[test]
    fn a_document_nested_to_the_bracket_limit_parses_on_a_fraction_of_a_server_stack() {
        let depth = BRACKETS_LIMIT - 2;
        let q = format!("{{ a(x: {}1{}) }}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(bracket_depth(&q), BRACKETS_LIMIT);
        let parsed = on_stack(SERVER_STACK / 4, move || {
            check(&q, 1000).map(|d| d.is_some())
        });
        assert_eq!(parsed, Ok(true));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let cases = [
            ("{ a }", 1),
            ("{ a(x: [[1]]) }", 4),
            (r#"{ a(x: "{{{[[[(((") }"#, 2),
            (r#"{ a(x: "\"{{{") }"#, 2),
            ("{ a(x: \"\"\"{{{ \\\"\"\" [[[ \"\"\") }", 2),
            ("{ a # {{{ [[[\n b }", 1),
            ("{ a(x: \"open\n{ { {\") }", 5),
            ("]]] {", 1),
            ("", 0),
        ];
        for (text, depth) in cases {
            assert_eq!(bracket_depth(text), depth, "{text:?}");
        }
    }

    /// Thousands of directives on one field (a 1 MiB request holds 100 000)
    /// were compared each with each.
    #[test]
    fn many_directives_on_one_field_are_checked_in_linear_time() {
        let directives: Vec<String> = (0..30_000).map(|i| format!("@d{i}")).collect();
        let doc = parse(&format!("{{ a {} }}", directives.join(" ")));
        let started = std::time::Instant::now();
        assert_eq!(expanded_selections(&doc, 100), Ok(1));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let doc = parse(&format!("{{ a {} @d7 }}", directives.join(" ")));
        assert_eq!(
            expanded_selections(&doc, 100),
            Err(Refused::RepeatedDirective("d7".into()))
        );
    }

    /// Whatever order the operations are walked in, a fragment counted
    /// once is refused where it is spread too deep: `F29` is fine under A
    /// (its deepest set at depth 30), 33 deep under B.
    #[test]
    fn a_fragment_spread_too_deep_is_refused_wherever_it_was_counted_first() {
        let mut q = "query A { ...F29 } query B { a { a { a { ...F29 } } } }\n".to_owned();
        q.push_str("fragment F0 on Query { __typename }\n");
        for i in 1..30 {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i - 1));
        }
        for _ in 0..20 {
            // A fresh parse, a fresh order of operations.
            assert_eq!(
                expanded_selections(&parse(&q), 1000),
                Err(Refused::Depth {
                    limit: NESTING_LIMIT
                })
            );
        }
    }

    /// async-graphql's schema, type `Node { a: Node, n: Int }`.
    struct Node;

    #[async_graphql::Object]
    impl Node {
        async fn a(&self) -> Node {
            Node
        }
        async fn n(&self) -> i32 {
            1
        }
    }

    /// `NESTING_LIMIT` is async-graphql's recursion limit, counted as it
    /// counts: both accept and refuse the same documents.
    #[tokio::test]
    async fn nesting_is_bounded_exactly_where_async_graphql_bounds_it() {
        let schema = async_graphql::Schema::new(
            Node,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        );
        let fields = |k: usize| format!("{{ {}n{} }}", "a { ".repeat(k), " }".repeat(k));
        let inline = |k: usize| format!("{{ {}n{} }}", "... on Node { ".repeat(k), " }".repeat(k));
        let chain = |k: usize| {
            let mut q = format!("{{ ...F{} }}\nfragment F0 on Node {{ n }}\n", k - 1);
            for i in 1..k {
                q.push_str(&format!("fragment F{i} on Node {{ ...F{} }}\n", i - 1));
            }
            q
        };
        for (shape, doc) in [
            ("fields", &fields as &dyn Fn(usize) -> String),
            ("inline fragments", &inline),
            ("a chain of fragments", &chain),
        ] {
            for k in [
                NESTING_LIMIT - 1,
                NESTING_LIMIT,
                NESTING_LIMIT + 1,
                NESTING_LIMIT + 2,
            ] {
                let text = doc(k);
                let ours = expanded_selections(&parse(&text), 1000);
                let response = schema.execute(text).await;
                let theirs = response
                    .errors
                    .iter()
                    .any(|e| e.message.contains("recursion depth"));
                assert_eq!(
                    ours.is_err(),
                    theirs,
                    "{shape} nested {k}: ours {ours:?}, async-graphql {:?}",
                    response.errors
                );
                assert_eq!(ours.is_err(), k > NESTING_LIMIT, "{shape} nested {k}");
            }
        }
    }
}
