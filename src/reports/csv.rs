//! CSV in and out: an answer as `text/csv` with a `Content-Disposition` file name, and the
//! reading of an uploaded statement (RFC 4180: quoted fields, doubled quotes, CRLF or LF).

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// A table as a downloadable CSV file.
pub fn attachment(file_name: &str, header: &[&str], rows: &[Vec<String>]) -> Response {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        let fields: Vec<String> = row.iter().map(|field| quote(field)).collect();
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

/// Quotes a field holding a comma, a quote or a line break.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// One line of a file that is not CSV: its number (1 = the header) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub line: usize,
    pub message: String,
}

/// Splits a CSV text into records of fields, each with the line it starts on. Blank lines are
/// skipped; a byte-order mark is ignored.
pub fn parse(text: &str) -> Result<Vec<(usize, Vec<String>)>, Malformed> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(Malformed {
                        line: start,
                        message: "a quoted field is not closed".into(),
                    });
                }
                break;
            };
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
                (false, '"') if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                (false, '"') => {
                    return Err(Malformed {
                        line,
                        message: "a quote inside an unquoted field".into(),
                    })
                }
                (false, ',') => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                (false, '\r') if chars.peek() == Some(&'\n') => {}
                (false, '\n') => {
                    line += 1;
                    break;
                }
                (false, c) => {
                    if was_quoted {
                        return Err(Malformed {
                            line,
                            message: "text after a closing quote".into(),
                        });
                    }
                    field.push(c);
                }
            }
        }
        fields.push(field);
        let blank = fields.len() == 1 && fields[0].trim().is_empty();
        if !blank {
            records.push((start, fields));
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_doubled_quotes_and_line_ends() {
        let text = "\u{feff}id,amount,state\r\n\"a,1\",\"10.00\",2\n\nb,\"say \"\"hi\"\"\",-1\n";
        let records = parse(text).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[1],
            (2, vec!["a,1".into(), "10.00".into(), "2".into()])
        );
        assert_eq!(
            records[2],
            (4, vec!["b".into(), "say \"hi\"".into(), "-1".into()])
        );
    }

    #[test]
    fn broken_quotes_name_their_line() {
        assert_eq!(parse("id\n\"open\n").unwrap_err().line, 2);
        assert_eq!(parse("id\nab\"c\n").unwrap_err().line, 2);
        assert_eq!(parse("id\n\"x\"y\n").unwrap_err().line, 2);
    }

    #[test]
    fn quote_only_what_needs_it() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
