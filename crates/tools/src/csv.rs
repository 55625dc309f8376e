//! A small CSV reader for the offline tools, written for error messages:
//! every cell remembers the line it came from, so a bad value is reported
//! as `FILE row 4, column "u": "abc" is not a number`.
//!
//! What it accepts: a header row, then records, comma separated; fields may
//! be quoted (`"Lab, Inc."`, with `""` for a quote inside); whole-line `#`
//! comments and blank lines are skipped anywhere; `\r\n` line ends and a
//! UTF-8 byte-order mark (Excel writes one) are fine. Fields are trimmed.
//! What it does not: a quoted field spanning lines (reported as an
//! unterminated quote), other separators or encodings, or a `#` line below
//! the header with as many fields as the header: it may be a commented-out
//! row or a lab whose code starts with `#`, and guessing either way silently
//! changes the outcome, so it is refused with the choice spelled out. Rows
//! are numbered as
//! lines of the file, counting from 1, so the number is what an editor shows.
//!
//! It must never panic, whatever the bytes.

use std::path::Path;

use crate::Failure;

/// A parsed CSV file.
#[derive(Debug)]
pub(crate) struct Csv {
    /// The file name as the user gave it, for messages.
    name: String,
    header_line: usize,
    header: Vec<String>,
    rows: Vec<Row>,
}

/// One record with the line it came from.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) line: usize,
    fields: Vec<String>,
}

/// How a column name is matched against the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// `u` and `U` are different columns.
    Sensitive,
    /// `Lab`, `LAB` and `lab` are the same column.
    Insensitive,
}

/// A column found in the header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col {
    index: usize,
    name: &'static str,
}

impl Csv {
    /// Reads and parses `path`. Unreadable or non-UTF-8 files are input
    /// errors (exit code 2).
    pub(crate) fn read(path: &Path) -> Result<Self, Failure> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::input(format!("cannot read {name}: {}", io_reason(&e))))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = line_of_byte(e.as_bytes(), e.utf8_error().valid_up_to());
            Failure::input(format!(
                "{name} row {line}: the file is not UTF-8 text (save it as CSV UTF-8)"
            ))
        })?;
        Self::parse(name, &text)
    }

    /// Parses CSV text; `name` is used in messages.
    pub(crate) fn parse(name: String, text: &str) -> Result<Self, Failure> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut header: Option<(usize, Vec<String>)> = None;
        let mut rows = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.starts_with('#') {
                // Below the header, a `#` line with as many fields as the
                // header reads like a row: a commented-out result or a lab
                // code starting with `#`. Either guess silently changes the
                // outcome, so that one is refused; other `#` lines are
                // comments.
                let looks_like_a_row = header.as_ref().is_some_and(|(_, h)| {
                    split_line(raw).is_ok_and(|fields| fields.len() == h.len() && h.len() > 1)
                });
                if !looks_like_a_row {
                    continue;
                }
                return Err(Failure::input(format!(
                    "{name} row {line}: a line starting with \"#\" that reads like a row; delete it to leave the row out, or quote a value that starts with \"#\""
                )));
            }
            let fields = split_line(raw)
                .map_err(|reason| Failure::input(format!("{name} row {line}: {reason}")))?;
            match &header {
                None => {
                    // Unnamed columns (a spreadsheet's trailing commas) are
                    // kept so the field counts match, and never looked up.
                    for (k, field) in fields.iter().enumerate() {
                        if !field.is_empty() && fields.iter().take(k).any(|f| f == field) {
                            return Err(Failure::input(format!(
                                "{name} row {line}, column {field:?}: the column appears twice in the header"
                            )));
                        }
                    }
                    header = Some((line, fields));
                }
                Some((_, h)) => {
                    if fields.len() != h.len() {
                        return Err(Failure::input(format!(
                            "{name} row {line}: {} fields, but the header has {}",
                            fields.len(),
                            h.len()
                        )));
                    }
                    rows.push(Row { line, fields });
                }
            }
        }
        let Some((header_line, header)) = header else {
            return Err(Failure::input(format!(
                "{name}: no header row (the file is empty or only comments)"
            )));
        };
        Ok(Self {
            name,
            header_line,
            header,
            rows,
        })
    }

    /// The file name as given.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The records, in file order.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The column called `name`, if the header has it.
    ///
    /// With [`Case::Insensitive`] a header with two spellings of the name
    /// (`Lab` and `lab`) is ambiguous and reported.
    pub(crate) fn column(&self, name: &'static str, case: Case) -> Result<Option<Col>, Failure> {
        let mut found = self
            .header
            .iter()
            .enumerate()
            .filter(|(_, h)| match case {
                Case::Sensitive => h.as_str() == name,
                Case::Insensitive => h.eq_ignore_ascii_case(name),
            })
            .map(|(index, _)| Col { index, name });
        let first = found.next();
        if found.next().is_some() {
            return Err(Failure::input(format!(
                "{} row {}, column {name:?}: the column appears twice in the header",
                self.name, self.header_line
            )));
        }
        Ok(first)
    }

    /// The column called `name`; missing is an input error naming the header
    /// row.
    pub(crate) fn require(&self, name: &'static str, case: Case) -> Result<Col, Failure> {
        self.column(name, case)?.ok_or_else(|| {
            Failure::input(format!(
                "{} row {}: missing column {name:?} (the header has {})",
                self.name,
                self.header_line,
                self.header_list()
            ))
        })
    }

    /// The header row's line number.
    pub(crate) fn header_line(&self) -> usize {
        self.header_line
    }

    fn header_list(&self) -> String {
        self.header
            .iter()
            .map(|h| format!("{h:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An input error at a cell.
    pub(crate) fn error(&self, row: &Row, col: Col, reason: impl std::fmt::Display) -> Failure {
        Failure::input(format!(
            "{} row {}, column {:?}: {reason}",
            self.name, row.line, col.name
        ))
    }

    /// The trimmed text of a cell ("" when the column is absent).
    pub(crate) fn text<'a>(&self, row: &'a Row, col: Option<Col>) -> &'a str {
        col.and_then(|c| row.fields.get(c.index))
            .map_or("", String::as_str)
    }

    /// A required number: empty, unparsable and non-finite cells are errors.
    pub(crate) fn number(&self, row: &Row, col: Col) -> Result<f64, Failure> {
        self.optional_number(row, Some(col))?
            .ok_or_else(|| self.error(row, col, "empty; a number is needed"))
    }

    /// An optional number: an absent column or an empty cell is `None`.
    pub(crate) fn optional_number(
        &self,
        row: &Row,
        col: Option<Col>,
    ) -> Result<Option<f64>, Failure> {
        let Some(col) = col else {
            return Ok(None);
        };
        let text = self.text(row, Some(col));
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Some(v)),
            Ok(_) => Err(self.error(row, col, format!("{} is not a finite number", quoted(text)))),
            Err(_) => Err(self.error(row, col, format!("{} is not a number", quoted(text)))),
        }
    }

    /// Degrees of freedom: an empty cell (or absent column), `inf`,
    /// `infinity` or `∞` is infinite; otherwise a number > 0.
    pub(crate) fn dof(&self, row: &Row, col: Option<Col>) -> Result<f64, Failure> {
        let Some(c) = col else {
            return Ok(f64::INFINITY);
        };
        let text = self.text(row, Some(c));
        if text.is_empty()
            || text == "∞"
            || text.eq_ignore_ascii_case("inf")
            || text.eq_ignore_ascii_case("infinity")
        {
            return Ok(f64::INFINITY);
        }
        match self.optional_number(row, col)? {
            Some(v) if v > 0.0 => Ok(v),
            _ => Err(self.error(
                row,
                c,
                format!(
                    "{} is not valid degrees of freedom (a number > 0, or empty/inf for infinite)",
                    quoted(text)
                ),
            )),
        }
    }
}

/// A cell's text for a message: quoted, escaped, and cut if very long.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}…")
    } else {
        format!("{text:?}")
    }
}

/// Splits one line into trimmed fields, honouring double quotes.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        // Skip leading blanks of the field.
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "field {} has an opening quote without a closing one (quoted fields cannot span lines)",
                            fields.len() + 1
                        ));
                    }
                    Some('"') => {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            field.push('"');
                        } else {
                            break;
                        }
                    }
                    Some(c) => field.push(c),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => {
                    return Err(format!(
                        "field {}: unexpected {c:?} after a closing quote",
                        fields.len() + 1
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim().to_owned());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field.trim().to_owned());
        }
    }
}

fn line_of_byte(bytes: &[u8], offset: usize) -> usize {
    1 + bytes.iter().take(offset).filter(|b| **b == b'\n').count()
}

/// The OS error without the "(os error 2)" suffix.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Csv, String> {
        Csv::parse("t.csv".to_owned(), text).map_err(|f| f.line)
    }

    #[test]
    fn a_hash_line_among_the_results_is_refused_not_skipped() {
        let err = parse("lab,value\nA,1\n#3,2\nB,3\n").expect_err("refused");
        assert!(err.contains("t.csv row 3"), "{err}");
        assert!(err.contains("quote"), "{err}");
        let err = parse("lab,value\nA,1\n  # B,2\n").expect_err("refused");
        assert!(err.contains("row 3"), "{err}");
        // A note that cannot be a row stays a comment.
        let csv = parse("lab,value\nA,1\n# checked 2026-12-04\nB,2\n").expect("parses");
        assert_eq!(csv.rows().len(), 2);
        // Quoted, it is a lab code like any other.
        let csv = parse("lab,value\nA,1\n\"#3\",2\n").expect("parses");
        let lab = csv.require("lab", Case::Insensitive).expect("lab");
        assert_eq!(csv.text(&csv.rows()[1], Some(lab)), "#3");
    }

    #[test]
    fn quotes_comments_blank_lines_and_bom() {
        let csv = parse("\u{feff}# a comment\n\nlab, value\r\n\"Lab, Inc.\", 1.5\n  # another\n\"say \"\"hi\"\"\",2\n")
            .expect("parses");
        assert_eq!(csv.header_line(), 3);
        assert_eq!(csv.rows().len(), 2);
        let lab = csv.require("lab", Case::Insensitive).expect("lab");
        let value = csv.require("value", Case::Insensitive).expect("value");
        let rows = csv.rows();
        assert_eq!(csv.text(&rows[0], Some(lab)), "Lab, Inc.");
        assert_eq!(rows[0].line, 4);
        assert_eq!(csv.number(&rows[0], value).expect("number"), 1.5);
        assert_eq!(csv.text(&rows[1], Some(lab)), "say \"hi\"");
        assert_eq!(rows[1].line, 6);
    }

    #[test]
    fn errors_name_row_and_column() {
        let csv = parse("lab,value,u\nA,1,0.1\nB,2,abc\nC,3,inf\n").expect("parses");
        let u = csv.require("u", Case::Sensitive).expect("u");
        let rows = csv.rows();
        assert_eq!(
            csv.number(&rows[1], u).map_err(|f| f.line),
            Err("t.csv row 3, column \"u\": \"abc\" is not a number".to_owned())
        );
        assert!(
            csv.number(&rows[2], u)
                .map_err(|f| f.line)
                .is_err_and(|e| e.contains("row 4") && e.contains("not a finite number"))
        );
        assert!(
            csv.require("U", Case::Sensitive)
                .map_err(|f| f.line)
                .is_err_and(|e| e.contains("row 1: missing column \"U\""))
        );
        assert!(parse("a,b\n1\n").is_err_and(|e| e.contains("row 2: 1 fields")));
        assert!(parse("a,b\n\"1,2\n").is_err_and(|e| e.contains("row 2") && e.contains("quote")));
        assert!(parse("a,a\n").is_err_and(|e| e.contains("twice")));
        assert!(parse("a,,\n1,,\n").is_ok(), "unnamed spreadsheet columns");
        assert!(parse("# only\n\n").is_err_and(|e| e.contains("no header")));
        assert!(parse("a,\"x\"y\n").is_err_and(|e| e.contains("after a closing quote")));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for text in [
            "",
            "\"",
            ",",
            "\"\"\"",
            "a\n\"",
            "é,\u{0}\n\u{feff}",
            "\r\n\r",
        ] {
            let _ = parse(text);
        }
    }
}
