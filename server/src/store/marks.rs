//! Bind-parameter marks for generated statements (multi-row inserts, `IN`
//! lists).
//!
//! PostgreSQL needs numbered marks (`$1, $2, …`). SQLite gets anonymous
//! `?` marks: sqlx binds a numbered SQLite parameter by asking
//! `sqlite3_bind_parameter_name` for each one, which scans the statement's
//! list of names, so a statement with N numbered marks costs O(N²) before
//! it runs. Under the province load (1 000 agents at 10 Hz) that scan was a
//! third of the server's CPU (perf, 2026-12-04). Anonymous marks are bound
//! in the order they appear, so every mark must be used once, in binding
//! order — which is how generated statements are written anyway.

use super::Backend;

/// Hands out marks in binding order.
pub struct Marks {
    numbered: bool,
    next: usize,
}

impl Marks {
    pub fn new(backend: Backend) -> Self {
        Self::starting_after(backend, 0)
    }

    /// Marks after `bound` parameters that the statement binds first (they
    /// must come first in the text too).
    pub fn starting_after(backend: Backend, bound: usize) -> Self {
        Self {
            numbered: backend == Backend::Postgres,
            next: bound,
        }
    }

    fn push(&mut self, out: &mut String) {
        self.next += 1;
        if self.numbered {
            out.push('$');
            out.push_str(&self.next.to_string());
        } else {
            out.push('?');
        }
    }

    /// `n` marks separated by commas, for `IN (…)`.
    pub fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 4);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            self.push(&mut out);
        }
        out
    }

    /// `rows` parenthesised tuples of `cols` marks, for `VALUES …`.
    pub fn rows(&mut self, rows: usize, cols: usize) -> String {
        let mut out = String::with_capacity(rows * (cols * 4 + 4));
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            out.push_str(&self.list(cols));
            out.push(')');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_every_mark_in_order() {
        let mut m = Marks::new(Backend::Postgres);
        assert_eq!(m.rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(m.list(2), "$7, $8");
        assert_eq!(
            Marks::starting_after(Backend::Postgres, 1).list(2),
            "$2, $3"
        );
    }

    #[test]
    fn sqlite_marks_are_anonymous() {
        let mut m = Marks::new(Backend::Sqlite);
        assert_eq!(m.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(m.list(1), "?");
    }
}
