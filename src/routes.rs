//! The route table of the HTTP API: `(method, path)` → [`Route`], as a pure function.
//!
//! The table is compiled into the binary (a `match` over path segments), so there is nothing to
//! build per request or per isolate, and it is tested on the host. A path that matches a route with
//! another method yields [`RouteError::MethodNotAllowed`] with the allowed methods (for `allow`);
//! anything else under `/api` is [`RouteError::NotFound`]. Ids in paths must look like ids this
//! service issues (1–64 chars of `[A-Za-z0-9_-]`); anything else is a 404, never a 400, so probing
//! reveals nothing.

use crate::api::{ErrorCode, HasErrorCode};

/// HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
    Options,
    Head,
    Other,
}

impl Method {
    /// Parses an HTTP method name (case-sensitive, as HTTP defines).
    pub fn parse(name: &str) -> Self {
        match name {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PATCH" => Self::Patch,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            "HEAD" => Self::Head,
            _ => Self::Other,
        }
    }
}

/// A matched API route with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    CreateTab,
    ListTabs,
    GetTab(String),
    RenameTab(String),
    DeleteTab(String),
    AppendMessage(String),
    ListMessages(String),
    TabStats(String),
    FlushTab(String),
    Search,
    SearchCacheStats,
    Rollout,
    CreateRun,
    GetRun(String),
    StepRun(String),
    RunBuffer(String),
    DeleteRun(String),
    Intent,
    StartReply(String),
    GetReply(String, String),
    ReplyEvents(String, String),
    CancelReply(String, String),
    Usage,
    Live(String),
    CreateWorkspace,
    ListWorkspaces,
    GetWorkspace(String),
    DeleteWorkspace(String),
    UploadArchive(String),
    ListFiles(String),
    /// A file of a workspace: the workspace id and the file's path as it appears in the URL
    /// (still percent-encoded; the handler decodes and validates it).
    PutFile(String, String),
    GetFile(String, String),
    DeleteFile(String, String),
    Symbols(String),
}

impl Route {
    /// A stable name for logs and metrics (no ids, so cardinality stays low).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Health => "health",
            Self::OpenApi => "openapi",
            Self::CreateTab => "tabs.create",
            Self::ListTabs => "tabs.list",
            Self::GetTab(_) => "tabs.get",
            Self::RenameTab(_) => "tabs.rename",
            Self::DeleteTab(_) => "tabs.delete",
            Self::AppendMessage(_) => "messages.append",
            Self::ListMessages(_) => "messages.list",
            Self::TabStats(_) => "tabs.stats",
            Self::FlushTab(_) => "tabs.flush",
            Self::Search => "search",
            Self::SearchCacheStats => "search.cache_stats",
            Self::Rollout => "rollout",
            Self::CreateRun => "runs.create",
            Self::GetRun(_) => "runs.get",
            Self::StepRun(_) => "runs.step",
            Self::RunBuffer(_) => "runs.buffer",
            Self::DeleteRun(_) => "runs.delete",
            Self::Intent => "intent",
            Self::StartReply(_) => "replies.start",
            Self::GetReply(..) => "replies.get",
            Self::ReplyEvents(..) => "replies.events",
            Self::CancelReply(..) => "replies.cancel",
            Self::Usage => "usage",
            Self::Live(_) => "tabs.live",
            Self::CreateWorkspace => "workspaces.create",
            Self::ListWorkspaces => "workspaces.list",
            Self::GetWorkspace(_) => "workspaces.get",
            Self::DeleteWorkspace(_) => "workspaces.delete",
            Self::UploadArchive(_) => "workspaces.archive",
            Self::ListFiles(_) => "workspaces.files.list",
            Self::PutFile(..) => "workspaces.files.put",
            Self::GetFile(..) => "workspaces.files.get",
            Self::DeleteFile(..) => "workspaces.files.delete",
            Self::Symbols(_) => "workspaces.symbols",
        }
    }

    /// Whether the route needs a bearer token (all but health and the OpenAPI document).
    pub fn requires_auth(&self) -> bool {
        !matches!(self, Self::Health | Self::OpenApi)
    }

    /// Whether the route takes a JSON request body.
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Self::CreateTab
                | Self::RenameTab(_)
                | Self::AppendMessage(_)
                | Self::Rollout
                | Self::CreateRun
                | Self::StepRun(_)
                | Self::Intent
                | Self::StartReply(_)
                | Self::CreateWorkspace
        )
    }
}

/// Why no route matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no such route: see GET /api/openapi.json for the API")]
    NotFound,
    #[error("method not allowed on this route; allowed: {}", .0.join(", "))]
    MethodNotAllowed(Vec<&'static str>),
}

impl HasErrorCode for RouteError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
        }
    }
}

/// Whether `id` has the shape of an id this service issues.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Matches an `/api/...` path. `HEAD` is treated as `GET`; `OPTIONS` is handled by CORS before
/// routing. A trailing slash is ignored.
pub fn route(method: Method, path: &str) -> Result<Route, RouteError> {
    use Method::*;
    let method = if method == Head { Get } else { method };
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let mut segments = trimmed.split('/');
    // The path starts with "/", so the first segment is empty.
    if segments.next() != Some("") || segments.next() != Some("api") {
        return Err(RouteError::NotFound);
    }
    let segments: Vec<&str> = segments.collect();
    let id = |s: &str| -> Result<String, RouteError> {
        if valid_id(s) {
            Ok(s.to_owned())
        } else {
            Err(RouteError::NotFound)
        }
    };
    let allow = |allowed: &[&'static str]| RouteError::MethodNotAllowed(allowed.to_vec());
    match (segments.as_slice(), method) {
        (["health"], Get) => Ok(Route::Health),
        (["health"], _) => Err(allow(&["GET"])),
        (["openapi.json"], Get) => Ok(Route::OpenApi),
        (["openapi.json"], _) => Err(allow(&["GET"])),

        (["tabs"], Post) => Ok(Route::CreateTab),
        (["tabs"], Get) => Ok(Route::ListTabs),
        (["tabs"], _) => Err(allow(&["GET", "POST"])),
        (["tabs", t], m) => {
            let t = id(t)?;
            match m {
                Get => Ok(Route::GetTab(t)),
                Patch => Ok(Route::RenameTab(t)),
                Delete => Ok(Route::DeleteTab(t)),
                _ => Err(allow(&["GET", "PATCH", "DELETE"])),
            }
        }
        (["tabs", t, "messages"], m) => {
            let t = id(t)?;
            match m {
                Post => Ok(Route::AppendMessage(t)),
                Get => Ok(Route::ListMessages(t)),
                _ => Err(allow(&["GET", "POST"])),
            }
        }
        (["tabs", t, "stats"], Get) => Ok(Route::TabStats(id(t)?)),
        (["tabs", t, "stats"], _) => id(t).and(Err(allow(&["GET"]))),
        (["tabs", t, "flush"], Post) => Ok(Route::FlushTab(id(t)?)),
        (["tabs", t, "flush"], _) => id(t).and(Err(allow(&["POST"]))),
        (["tabs", t, "live"], Get) => Ok(Route::Live(id(t)?)),
        (["tabs", t, "live"], _) => id(t).and(Err(allow(&["GET"]))),
        (["tabs", t, "replies"], Post) => Ok(Route::StartReply(id(t)?)),
        (["tabs", t, "replies"], _) => id(t).and(Err(allow(&["POST"]))),
        (["tabs", t, "replies", r], Get) => Ok(Route::GetReply(id(t)?, id(r)?)),
        (["tabs", t, "replies", r], _) => id(t).and(id(r)).and(Err(allow(&["GET"]))),
        (["tabs", t, "replies", r, "events"], Get) => Ok(Route::ReplyEvents(id(t)?, id(r)?)),
        (["tabs", t, "replies", r, "events"], _) => id(t).and(id(r)).and(Err(allow(&["GET"]))),
        (["tabs", t, "replies", r, "cancel"], Post) => Ok(Route::CancelReply(id(t)?, id(r)?)),
        (["tabs", t, "replies", r, "cancel"], _) => id(t).and(id(r)).and(Err(allow(&["POST"]))),

        (["search"], Get) => Ok(Route::Search),
        (["search"], _) => Err(allow(&["GET"])),
        (["search", "cache", "stats"], Get) => Ok(Route::SearchCacheStats),
        (["search", "cache", "stats"], _) => Err(allow(&["GET"])),

        (["rollout"], Post) => Ok(Route::Rollout),
        (["rollout"], _) => Err(allow(&["POST"])),
        (["rollout", "runs"], Post) => Ok(Route::CreateRun),
        (["rollout", "runs"], _) => Err(allow(&["POST"])),
        (["rollout", "runs", r], m) => {
            let r = id(r)?;
            match m {
                Get => Ok(Route::GetRun(r)),
                Delete => Ok(Route::DeleteRun(r)),
                _ => Err(allow(&["GET", "DELETE"])),
            }
        }
        (["rollout", "runs", r, "step"], Post) => Ok(Route::StepRun(id(r)?)),
        (["rollout", "runs", r, "step"], _) => id(r).and(Err(allow(&["POST"]))),
        (["rollout", "runs", r, "buffer"], Get) => Ok(Route::RunBuffer(id(r)?)),
        (["rollout", "runs", r, "buffer"], _) => id(r).and(Err(allow(&["GET"]))),

        (["workspaces"], Post) => Ok(Route::CreateWorkspace),
        (["workspaces"], Get) => Ok(Route::ListWorkspaces),
        (["workspaces"], _) => Err(allow(&["GET", "POST"])),
        (["workspaces", w], m) => {
            let w = id(w)?;
            match m {
                Get => Ok(Route::GetWorkspace(w)),
                Delete => Ok(Route::DeleteWorkspace(w)),
                _ => Err(allow(&["GET", "DELETE"])),
            }
        }
        (["workspaces", w, "archive"], Put) => Ok(Route::UploadArchive(id(w)?)),
        (["workspaces", w, "archive"], _) => id(w).and(Err(allow(&["PUT"]))),
        (["workspaces", w, "files"], Get) => Ok(Route::ListFiles(id(w)?)),
        (["workspaces", w, "files"], _) => id(w).and(Err(allow(&["GET"]))),
        (["workspaces", w, "files", rest @ ..], m) => {
            let w = id(w)?;
            let file = rest.join("/");
            match m {
                Put => Ok(Route::PutFile(w, file)),
                Get => Ok(Route::GetFile(w, file)),
                Delete => Ok(Route::DeleteFile(w, file)),
                _ => Err(allow(&["GET", "PUT", "DELETE"])),
            }
        }
        (["workspaces", w, "symbols"], Get) => Ok(Route::Symbols(id(w)?)),
        (["workspaces", w, "symbols"], _) => id(w).and(Err(allow(&["GET"]))),

        (["usage"], Get) => Ok(Route::Usage),
        (["usage"], _) => Err(allow(&["GET"])),
        (["intent"], Post) => Ok(Route::Intent),
        (["intent"], _) => Err(allow(&["POST"])),
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Method::*;

    #[test]
    fn workspace_routes_keep_file_paths_whole() {
        assert_eq!(route(Post, "/api/workspaces"), Ok(Route::CreateWorkspace));
        assert_eq!(route(Get, "/api/workspaces"), Ok(Route::ListWorkspaces));
        assert_eq!(
            route(Put, "/api/workspaces/w1/archive"),
            Ok(Route::UploadArchive("w1".into()))
        );
        assert_eq!(
            route(Put, "/api/workspaces/w1/files/src/lib%20x.rs"),
            Ok(Route::PutFile("w1".into(), "src/lib%20x.rs".into()))
        );
        assert_eq!(
            route(Get, "/api/workspaces/w1/files/a/b/c.py"),
            Ok(Route::GetFile("w1".into(), "a/b/c.py".into()))
        );
        assert_eq!(
            route(Delete, "/api/workspaces/w1/files/README.md"),
            Ok(Route::DeleteFile("w1".into(), "README.md".into()))
        );
        assert_eq!(
            route(Get, "/api/workspaces/w1/files"),
            Ok(Route::ListFiles("w1".into()))
        );
        assert_eq!(
            route(Get, "/api/workspaces/w1/symbols"),
            Ok(Route::Symbols("w1".into()))
        );
        assert_eq!(
            route(Post, "/api/workspaces/w1/archive"),
            Err(RouteError::MethodNotAllowed(vec!["PUT"]))
        );
        assert_eq!(
            route(Post, "/api/workspaces/w1/files/a.py"),
            Err(RouteError::MethodNotAllowed(vec!["GET", "PUT", "DELETE"]))
        );
        assert_eq!(
            route(Get, "/api/workspaces/bad.id"),
            Err(RouteError::NotFound)
        );
        assert_eq!(Method::parse("PUT"), Put);
    }

    #[test]
    fn matches_every_contract_route() {
        assert_eq!(route(Get, "/api/health"), Ok(Route::Health));
        assert_eq!(route(Head, "/api/health/"), Ok(Route::Health));
        assert_eq!(route(Get, "/api/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(route(Post, "/api/tabs"), Ok(Route::CreateTab));
        assert_eq!(
            route(Patch, "/api/tabs/t1"),
            Ok(Route::RenameTab("t1".into()))
        );
        assert_eq!(
            route(Post, "/api/tabs/t1/messages"),
            Ok(Route::AppendMessage("t1".into()))
        );
        assert_eq!(
            route(Post, "/api/tabs/t1/flush"),
            Ok(Route::FlushTab("t1".into()))
        );
        assert_eq!(
            route(Get, "/api/search/cache/stats"),
            Ok(Route::SearchCacheStats)
        );
        assert_eq!(
            route(Post, "/api/rollout/runs/r-1/step"),
            Ok(Route::StepRun("r-1".into()))
        );
        assert_eq!(
            route(Delete, "/api/rollout/runs/r_1"),
            Ok(Route::DeleteRun("r_1".into()))
        );
        assert_eq!(route(Post, "/api/intent"), Ok(Route::Intent));
        assert_eq!(
            route(Post, "/api/tabs/t1/replies"),
            Ok(Route::StartReply("t1".into()))
        );
        assert_eq!(
            route(Get, "/api/tabs/t1/live"),
            Ok(Route::Live("t1".into()))
        );
        assert_eq!(
            route(Post, "/api/tabs/t1/live"),
            Err(RouteError::MethodNotAllowed(vec!["GET"]))
        );
        assert_eq!(
            route(Get, "/api/tabs/t1/replies/r1/events"),
            Ok(Route::ReplyEvents("t1".into(), "r1".into()))
        );
        assert_eq!(
            route(Post, "/api/tabs/t1/replies/r1/cancel"),
            Ok(Route::CancelReply("t1".into(), "r1".into()))
        );
        assert_eq!(
            route(Get, "/api/tabs/t1/replies/r1"),
            Ok(Route::GetReply("t1".into(), "r1".into()))
        );
        assert_eq!(
            route(Get, "/api/tabs/t1/replies"),
            Err(RouteError::MethodNotAllowed(vec!["POST"]))
        );
        assert_eq!(
            route(Get, "/api/tabs/t1/replies/bad id"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route(Get, "/api/intent"),
            Err(RouteError::MethodNotAllowed(vec!["POST"]))
        );
    }

    #[test]
    fn wrong_method_lists_allowed_methods() {
        assert_eq!(
            route(Delete, "/api/tabs"),
            Err(RouteError::MethodNotAllowed(vec!["GET", "POST"]))
        );
        assert_eq!(
            route(Post, "/api/health"),
            Err(RouteError::MethodNotAllowed(vec!["GET"]))
        );
    }

    #[test]
    fn unknown_paths_and_odd_ids_are_not_found() {
        for path in [
            "/api",
            "/api/",
            "/api/nope",
            "/api/tabs/a/b/c",
            "/api/tabs/bad%20id",
            "/api/tabs/..",
            "/apix/health",
            "/index.html",
        ] {
            assert_eq!(route(Get, path), Err(RouteError::NotFound), "{path}");
        }
        let long = format!("/api/tabs/{}", "a".repeat(65));
        assert_eq!(route(Get, &long), Err(RouteError::NotFound));
        assert_eq!(
            route(Post, "/api/tabs/bad.id/flush"),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn only_health_and_openapi_are_public() {
        assert!(!Route::Health.requires_auth());
        assert!(!Route::OpenApi.requires_auth());
        assert!(Route::ListTabs.requires_auth());
        assert!(Route::Rollout.takes_body());
        assert!(!Route::ListTabs.takes_body());
    }
}
