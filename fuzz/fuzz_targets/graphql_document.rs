//! GraphQL documents through the checks the server runs before
//! async-graphql validates or executes anything (`graphql::size::check`,
//! which `Documents::prepare` calls for every HTTP and WebSocket request):
//! the bracket nesting of the text, async-graphql's parser, then the
//! expanded-selection count, the nesting through fragments, fragment
//! cycles, repeated directives and subscription roots.
//!
//! Input: the text of a document. Properties:
//! - nothing panics, and nothing overflows a server thread's stack
//!   (everything runs on a thread of half its size);
//! - the check finishes quickly whatever the document (libFuzzer's
//!   `-timeout` catches a hang, `-rss_limit_mb` a blow-up);
//! - a document the check accepts has a bounded expansion: walking it with
//!   every fragment spread expanded, as async-graphql's validation and
//!   executor do, visits at most `selections × (NESTING_LIMIT + 1)` items,
//!   nests no deeper than the limit, and counts exactly the selections
//!   the check counted (a naive walk, stopped at a budget, is the oracle);
//! - a refusal is justified: the naive walk also finds the document too
//!   big, too deep, or the repeated directive, or the subscription's
//!   number of root fields.
#![no_main]

use std::collections::{HashMap, HashSet};

use async_graphql::Positioned;
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use libfuzzer_sys::fuzz_target;
use tasksync_fuzz::on_server_stack;
use tasksync_fuzz::size::{self, NESTING_LIMIT, Refused};

/// The selection limit of the runs: small, so that refusals are common.
const LIMIT: usize = 100;

/// Walks every operation with fragments expanded, as async-graphql does,
/// until it is done, too deep, over the limit or out of budget.
struct Naive<'a> {
    doc: &'a ExecutableDocument,
    /// Items visited: fields, inline fragments and spreads.
    visits: usize,
    /// Fields and spreads of unknown fragments (the check's count).
    selections: usize,
    too_deep: bool,
    exhausted: bool,
    /// Directive names repeated on one location.
    repeated: HashSet<String>,
}

/// Items a bounded expansion may visit at most.
const BUDGET: usize = (LIMIT + 1) * (NESTING_LIMIT + 1) + 1;

impl<'a> Naive<'a> {
    fn new(doc: &'a ExecutableDocument) -> Self {
        let mut naive = Self {
            doc,
            visits: 0,
            selections: 0,
            too_deep: false,
            exhausted: false,
            repeated: HashSet::new(),
        };
        for fragment in doc.fragments.values() {
            naive.directives(&fragment.node.directives);
        }
        for (_, op) in doc.operations.iter() {
            naive.directives(&op.node.directives);
            if !naive.set(&op.node.selection_set, 0) {
                break;
            }
        }
        naive
    }

    /// Whether the check had a reason to refuse.
    fn refusable(&self) -> bool {
        self.too_deep || self.selections > LIMIT
    }

    fn directives(&mut self, directives: &[Positioned<Directive>]) {
        let mut seen = HashSet::new();
        for d in directives {
            if !seen.insert(d.node.name.node.as_str()) {
                self.repeated.insert(d.node.name.node.to_string());
            }
        }
    }

    /// Walks one selection set at `depth`; false to stop the whole walk.
    fn set(&mut self, set: &'a Positioned<SelectionSet>, depth: usize) -> bool {
        if depth > NESTING_LIMIT {
            self.too_deep = true;
            return false;
        }
        for item in &set.node.items {
            self.visits += 1;
            if self.visits > BUDGET {
                self.exhausted = true;
                return false;
            }
            self.directives(item.node.directives());
            let more = match &item.node {
                Selection::Field(field) => {
                    self.selections += 1;
                    let sub = &field.node.selection_set;
                    sub.node.items.is_empty() || self.set(sub, depth + 1)
                }
                Selection::InlineFragment(inline) => {
                    self.set(&inline.node.selection_set, depth + 1)
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => self.set(&fragment.node.selection_set, depth + 1),
                        None => {
                            self.selections += 1;
                            true
                        }
                    }
                }
            };
            if !more || self.selections > LIMIT {
                return false;
            }
        }
        true
    }
}

/// Root fields of a subscription's selection set, through fragments.
fn roots(doc: &ExecutableDocument, set: &SelectionSet, depth: usize) -> usize {
    if depth > NESTING_LIMIT {
        return 0;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(i) => roots(doc, &i.node.selection_set.node, depth + 1),
            Selection::FragmentSpread(s) => doc
                .fragments
                .get(&s.node.fragment_name.node)
                .map_or(0, |f| roots(doc, &f.node.selection_set.node, depth + 1)),
        })
        .sum()
}

fn subscription_roots(doc: &ExecutableDocument) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for (_, op) in doc.operations.iter() {
        if op.node.ty == OperationType::Subscription {
            *counts
                .entry(roots(doc, &op.node.selection_set.node, 0))
                .or_default() += 1;
        }
    }
    counts
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = on_server_stack(|| size::check(text, LIMIT).map(|doc| doc.map(Box::new)));
    let doc = match &outcome {
        Ok(Some(doc)) => doc.as_ref().clone(),
        Ok(None) | Err(Refused::Brackets { .. }) => return,
        // Parses (the check parsed it before refusing it).
        Err(_) => match on_server_stack(|| async_graphql::parser::parse_query(text)) {
            Ok(doc) => doc,
            Err(e) => panic!("refused, but does not parse: {e}"),
        },
    };
    let naive = on_server_stack(|| {
        let n = Naive::new(&doc);
        let refusable = n.refusable();
        (
            n.visits,
            n.selections,
            n.too_deep,
            n.exhausted,
            n.repeated,
            refusable,
        )
    });
    let (visits, selections, too_deep, exhausted, repeated, refusable) = naive;
    assert!(
        !exhausted,
        "the expansion visits more than {BUDGET} items: {outcome:?}"
    );
    match &outcome {
        Ok(_) => {
            let counted = size::expanded_selections(&doc, LIMIT).expect("accepted once");
            assert!(!too_deep, "accepted, but nests deeper than {NESTING_LIMIT}");
            assert_eq!(selections, counted, "the check counted differently");
            assert!(counted <= LIMIT);
            assert!(
                visits <= counted * (NESTING_LIMIT + 1),
                "accepted, but its expansion visits {visits} items for {counted} selections"
            );
            assert!(
                repeated.is_empty(),
                "accepted with repeated directives {repeated:?}"
            );
            let roots = subscription_roots(&doc);
            assert!(
                roots.keys().all(|n| *n == 1),
                "accepted a subscription of {roots:?} root fields"
            );
        }
        Err(Refused::Selections { .. } | Refused::Depth { .. } | Refused::Cycle(_)) => {
            assert!(refusable, "refused ({outcome:?}) but within the limits");
        }
        Err(Refused::RepeatedDirective(name)) => {
            assert!(
                repeated.contains(name) || refusable,
                "@{name} is not repeated"
            );
        }
        Err(Refused::SubscriptionRoots(n)) => {
            let roots = subscription_roots(&doc);
            let seen = if *n == 0 {
                roots.contains_key(&0)
            } else {
                roots.keys().any(|k| *k >= 2)
            };
            assert!(
                seen || refusable,
                "no subscription has {n} root fields: {roots:?}"
            );
        }
        Err(Refused::Brackets { .. }) => unreachable!(),
    }
});
