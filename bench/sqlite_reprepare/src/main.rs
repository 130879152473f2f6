//! Measures what a bound `LIMIT ?` costs a statement that is kept prepared and run again, as
//! workerd's `sql.exec` statement cache runs the Durable Object store's range read
//! (`src/edge/storage.rs`): for every call it binds the parameters, steps to the end, then
//! `sqlite3_reset` and `sqlite3_clear_bindings`.
//!
//! SQLite reads a bare bound `LIMIT ?` while planning (`sqlite3ExprIsInteger` with the parse
//! context) and marks the parameter so that binding it again expires the statement; the next
//! `sqlite3_step` prepares the SQL anew. `LIMIT +?` is an expression evaluated when the statement
//! runs, so the plan does not depend on the value. The table prints, per form of the query, the
//! re-prepares SQLite counted (`SQLITE_STMTSTATUS_REPREPARE`) and the median µs per read over
//! rounds, alternating the two forms in each round.
//!
//! Usage: bench/sqlite_reprepare/run.sh [ROWS_PER_READ (3)] [READS_PER_ROUND (50000)] [ROUNDS (7)]

use libsqlite3_sys as ffi;
use std::ffi::{CStr, CString};
use std::ptr;
use std::time::Instant;

/// The store's table, exactly as `SqlKv` creates it.
const CREATE: &str = "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID";
const FORMS: [(&str, &str); 2] = [
    (
        "`LIMIT ?` (before)",
        "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key ASC LIMIT ?",
    ),
    (
        "`LIMIT +?` (shipped)",
        "SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key ASC LIMIT +?",
    ),
];
const KEYS: usize = 1000;

fn check(db: *mut ffi::sqlite3, rc: i32, what: &str) {
    if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_DONE && rc != ffi::SQLITE_ROW {
        // SAFETY: `db` is an open connection; sqlite3_errmsg returns a NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) };
        panic!("{what}: {rc} {}", msg.to_string_lossy());
    }
}

fn exec(db: *mut ffi::sqlite3, sql: &str) {
    let sql = CString::new(sql).expect("SQL without NUL");
    // SAFETY: a valid connection and a NUL-terminated statement; no callback.
    let rc = unsafe { ffi::sqlite3_exec(db, sql.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
    check(db, rc, "exec");
}

/// One prepared statement, run `reads` times as workerd runs a cached one; returns µs per read.
struct Cached {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Cached {
    fn new(db: *mut ffi::sqlite3, sql: &str) -> Self {
        let sql = CString::new(sql).expect("SQL without NUL");
        let mut stmt = ptr::null_mut();
        // SAFETY: valid connection and statement text; `stmt` receives the statement.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr(),
                -1,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        check(db, rc, "prepare");
        Self { db, stmt }
    }

    fn read(&self, start: &CStr, end: &CStr, limit: i64) -> usize {
        let mut rows = 0;
        // SAFETY: `stmt` is prepared on `db`; the bound strings outlive the steps (they are
        // unbound by sqlite3_clear_bindings before this returns).
        unsafe {
            check(
                self.db,
                ffi::sqlite3_bind_text(self.stmt, 1, start.as_ptr(), -1, None),
                "bind",
            );
            check(
                self.db,
                ffi::sqlite3_bind_text(self.stmt, 2, end.as_ptr(), -1, None),
                "bind",
            );
            check(
                self.db,
                ffi::sqlite3_bind_int64(self.stmt, 3, limit),
                "bind",
            );
            loop {
                let rc = ffi::sqlite3_step(self.stmt);
                check(self.db, rc, "step");
                if rc != ffi::SQLITE_ROW {
                    break;
                }
                rows += 1;
            }
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        rows
    }

    fn reprepares(&self) -> i32 {
        // SAFETY: a prepared statement; reading a counter without resetting it.
        unsafe { ffi::sqlite3_stmt_status(self.stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0) }
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        // SAFETY: finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.stmt) };
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("arguments are whole numbers"))
        .unwrap_or(default)
}

fn main() {
    let rows_per_read = arg(1, 3).clamp(1, KEYS);
    let reads = arg(2, 50_000).max(1);
    let rounds = arg(3, 7).max(1);

    let mut db = ptr::null_mut();
    let name = CString::new(":memory:").expect("no NUL");
    // SAFETY: opens a private in-memory database into `db`.
    check(
        db,
        unsafe { ffi::sqlite3_open(name.as_ptr(), &mut db) },
        "open",
    );
    exec(db, CREATE);
    exec(db, "BEGIN");
    for i in 0..KEYS {
        exec(
            db,
            &format!("INSERT INTO kv VALUES ('k{i:05}', zeroblob(64))"),
        );
    }
    exec(db, "COMMIT");

    // A read of `rows_per_read` keys, with a limit that varies between calls as the store's do.
    let start = CString::new("k00100").expect("no NUL");
    let end = CString::new(format!("k{:05}", 100 + rows_per_read)).expect("no NUL");
    let statements: Vec<Cached> = FORMS.iter().map(|(_, sql)| Cached::new(db, sql)).collect();
    let mut micros = vec![Vec::new(); FORMS.len()];
    for round in 0..rounds {
        for k in 0..FORMS.len() {
            // Alternate which form goes first, so both see the same machine state.
            let which = if round % 2 == 0 {
                k
            } else {
                FORMS.len() - 1 - k
            };
            let statement = &statements[which];
            let began = Instant::now();
            for i in 0..reads {
                let limit = if i % 2 == 0 { 50 } else { 1 << 53 };
                let got = statement.read(&start, &end, limit);
                assert_eq!(got, rows_per_read, "each read returns the range's rows");
            }
            micros[which].push(began.elapsed().as_secs_f64() * 1e6 / reads as f64);
        }
    }

    // SAFETY: a NUL-terminated static string.
    let version = unsafe { CStr::from_ptr(ffi::sqlite3_libversion()) }.to_string_lossy();
    println!(
        "SQLite {version}; {reads} range reads of {rows_per_read} rows per form and round, \
         {rounds} rounds (median)\n"
    );
    println!("| query | re-prepares per read | µs per read |");
    println!("|---|---:|---:|");
    let total_reads = (reads * rounds) as f64;
    for (k, (label, _)) in FORMS.iter().enumerate() {
        let per_read = f64::from(statements[k].reprepares()) / total_reads;
        println!(
            "| {label} | {per_read:.2} | {:.2} |",
            median(&mut micros[k])
        );
    }
    drop(statements);
    // SAFETY: every statement is finalized above.
    unsafe { ffi::sqlite3_close(db) };
}
