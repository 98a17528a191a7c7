//! The little HTML the operator page needs: escaping and tables. Server-rendered, no script,
//! no external asset: the page works from a browser on an isolated network.

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A cell: text (escaped) or markup already built, with a class.
pub enum Cell {
    Text(String),
    Number(String),
    Markup(String),
    Flag { text: String, alarm: bool },
}

pub fn text(value: impl Into<String>) -> Cell {
    Cell::Text(value.into())
}

pub fn number(value: impl ToString) -> Cell {
    Cell::Number(value.to_string())
}

pub fn link(href: &str, label: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(label))
}

/// A table with a caption line when it has no rows.
pub fn table(header: &[&str], rows: Vec<Vec<Cell>>, empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>\n", escape(empty));
    }
    let mut html = String::from("<table>\n<tr>");
    for title in header {
        html.push_str(&format!("<th>{}</th>", escape(title)));
    }
    html.push_str("</tr>\n");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(value) => html.push_str(&format!("<td>{}</td>", escape(&value))),
                Cell::Number(value) => {
                    html.push_str(&format!("<td class=\"num\">{}</td>", escape(&value)))
                }
                Cell::Markup(markup) => html.push_str(&format!("<td>{markup}</td>")),
                Cell::Flag { text, alarm } => html.push_str(&format!(
                    "<td class=\"{}\">{}</td>",
                    if alarm { "bad" } else { "ok" },
                    escape(&text)
                )),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

pub const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}\
td.bad{background:#fde2e2;color:#8a1111}td.ok{color:#146c2e}p.empty{color:#666}\
.meta{color:#555;font-size:.9em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_data_is_shown_not_run() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let html = table(&["a"], vec![vec![text("<b>")]], "none");
        assert!(html.contains("<td>&lt;b&gt;</td>"), "{html}");
    }
}
