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

use std::collections::HashMap;

use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// More selections than the limit, once fragments are expanded.
    Selections { limit: usize },
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

/// Selections of every operation of `doc` with fragments expanded, or why
/// that exceeds `limit`. A spread of an unknown fragment counts as nothing
/// here (validation refuses it).
pub fn expanded_selections(doc: &ExecutableDocument, limit: usize) -> Result<usize, Refused> {
    let mut counter = Counter {
        doc,
        limit,
        fragments: HashMap::new(),
    };
    let mut total = 0usize;
    for (_, op) in doc.operations.iter() {
        once_each(&op.node.directives)?;
        total = total.saturating_add(counter.set(&op.node.selection_set)?);
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

/// Refuses a directive named twice on one location.
fn once_each(directives: &[Positioned<Directive>]) -> Result<(), Refused> {
    for (i, d) in directives.iter().enumerate() {
        let name = &d.node.name.node;
        if directives[..i].iter().any(|e| e.node.name.node == *name) {
            return Err(Refused::RepeatedDirective(name.to_string()));
        }
    }
    Ok(())
}

struct Counter<'a> {
    doc: &'a ExecutableDocument,
    limit: usize,
    /// A fragment's count once known; `None` while it is being counted.
    fragments: HashMap<&'a Name, Option<usize>>,
}

impl<'a> Counter<'a> {
    fn set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<usize, Refused> {
        let mut n = 0usize;
        for item in &set.node.items {
            once_each(item.node.directives())?;
            let add = match &item.node {
                Selection::Field(field) => {
                    1usize.saturating_add(self.set(&field.node.selection_set)?)
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set)?,
                // The spread itself counts too: validation and the
                // executor visit every spread, so fragments that spread an
                // empty or unknown fragment twice, twice, … must not count
                // as nothing.
                Selection::FragmentSpread(spread) => {
                    1usize.saturating_add(self.fragment(&spread.node.fragment_name.node)?)
                }
            };
            n = n.saturating_add(add);
            if n > self.limit {
                return Err(Refused::Selections { limit: self.limit });
            }
        }
        Ok(n)
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

    fn fragment(&mut self, name: &'a Name) -> Result<usize, Refused> {
        match self.fragments.get(name) {
            Some(Some(n)) => return Ok(*n),
            Some(None) => return Err(Refused::Cycle(name.to_string())),
            None => {}
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(0);
        };
        self.fragments.insert(name, None);
        let n = self.set(&fragment.node.selection_set)?;
        self.fragments.insert(name, Some(n));
        Ok(n)
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
        // 16 fields and 31 spreads.
        assert_eq!(expanded_selections(&parse(&doubling(5)), 1000), Ok(47));
        for n in [12, 27, 32, 64] {
            let started = std::time::Instant::now();
            assert_eq!(
                expanded_selections(&parse(&doubling(n)), 2000),
                Err(Refused::Selections { limit: 2000 }),
                "2^{} selections",
                n - 1
            );
            // Linear in the document, whatever it expands to.
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
    }

    #[test]
    fn inline_fragments_and_unknown_spreads() {
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
            expanded_selections(&parse(&empty(40)), 1000),
            Err(Refused::Selections { limit: 1000 })
        );
        let small = parse(&empty(3).replace("subscription", "query"));
        // 1 + F2, F2 = 2 (1 + F1), F1 = 2 (1 + F0), F0 = 1.
        assert_eq!(expanded_selections(&small, 1000), Ok(11));
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
}
