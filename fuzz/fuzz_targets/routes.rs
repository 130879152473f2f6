//! Fuzzes the route table (`routes::route`): never panics, ids in matched routes have the shape
//! of issued ids, and a path that routes for one method either routes or answers 405 (never 404)
//! for every other method, so `allow` headers are consistent.
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::routes::{route, valid_id, Method, Route, RouteError};
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 7] = [
    Method::Get,
    Method::Post,
    Method::Patch,
    Method::Delete,
    Method::Options,
    Method::Head,
    Method::Other,
];

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    method: &'a str,
    path: &'a str,
}

fn route_id(route: &Route) -> Option<&str> {
    match route {
        Route::GetTab(id)
        | Route::RenameTab(id)
        | Route::DeleteTab(id)
        | Route::AppendMessage(id)
        | Route::ListMessages(id)
        | Route::TabStats(id)
        | Route::FlushTab(id)
        | Route::GetRun(id)
        | Route::StepRun(id)
        | Route::RunBuffer(id)
        | Route::DeleteRun(id) => Some(id),
        _ => None,
    }
}

fuzz_target!(|input: Input<'_>| {
    let _ = route(Method::parse(input.method), input.path);
    let outcomes: Vec<_> = METHODS.iter().map(|&m| route(m, input.path)).collect();
    let matched = outcomes.iter().any(Result::is_ok);
    for outcome in &outcomes {
        match outcome {
            Ok(r) => {
                assert!(input.path.starts_with("/api/"));
                if let Some(id) = route_id(r) {
                    assert!(valid_id(id) && input.path.contains(id));
                }
                let _ = (r.name(), r.requires_auth(), r.takes_body());
            }
            Err(RouteError::MethodNotAllowed(allowed)) => assert!(!allowed.is_empty()),
            Err(RouteError::NotFound) => {
                assert!(
                    !matched,
                    "{:?} routes for one method but is 404 for another",
                    input.path
                )
            }
        }
    }
    // HEAD is GET.
    assert_eq!(
        route(Method::Head, input.path),
        route(Method::Get, input.path)
    );
});
