//! Reading and rewriting `pg_hba.conf`, the server's list of who may connect and how.
//!
//! Clusters made by earlier versions of Ledger were initialised with `--auth=trust`. At their
//! next start every line's method becomes `scram-sha-256` (a line that says `reject` stays),
//! so that no connection gets in without the password. Comments and lines that already
//! require the password are left exactly as they were.

use std::net::IpAddr;

/// The method every line must end up with.
const REQUIRED_METHOD: &str = "scram-sha-256";
/// Connection types whose lines carry an address before the method.
const TYPES_WITH_ADDRESS: [&str; 5] =
    ["host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"];

/// Whether some line lets a client in without the password.
pub(crate) fn admits_without_password(hba: &str) -> bool {
    hba.lines().any(|line| rewrite_line(line).is_some())
}

/// The file with every line requiring the password, or `None` if every line already does.
pub(crate) fn require_password(hba: &str) -> Option<String> {
    let mut changed = false;
    let mut rewritten = String::with_capacity(hba.len() + 64);
    for line in hba.lines() {
        match rewrite_line(line) {
            Some(new_line) => {
                rewritten.push_str(&new_line);
                changed = true;
            }
            None => rewritten.push_str(line),
        }
        rewritten.push('\n');
    }
    changed.then_some(rewritten)
}

/// The line with its method replaced (options after the method belong to the old method and
/// are dropped, along with a trailing comment), or `None` if it needs no change.
fn rewrite_line(line: &str) -> Option<String> {
    let fields = fields(line);
    let method_index = method_index(&fields)?;
    if matches!(fields[method_index], REQUIRED_METHOD | "reject") {
        return None;
    }
    Some(format!(
        "{}\t{REQUIRED_METHOD}",
        fields[..method_index].join("\t")
    ))
}

/// `local DATABASE USER METHOD`, `host DATABASE USER ADDRESS METHOD`, or
/// `host DATABASE USER IP-ADDRESS IP-MASK METHOD`; `None` for anything else (comments,
/// `include` directives).
fn method_index(fields: &[&str]) -> Option<usize> {
    let connection_type = *fields.first()?;
    let index = if connection_type == "local" {
        3
    } else if TYPES_WITH_ADDRESS.contains(&connection_type) {
        let is_ip = |field: Option<&&str>| field.is_some_and(|text| text.parse::<IpAddr>().is_ok());
        if is_ip(fields.get(3)) && is_ip(fields.get(4)) {
            5
        } else {
            4
        }
    } else {
        return None;
    };
    (index < fields.len()).then_some(index)
}

/// The whitespace-separated fields of a line, up to a `#` comment; a double-quoted part of a
/// field may hold spaces and `#`.
fn fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut field_start = None;
    let mut quoted = false;
    let mut end = line.len();
    for (index, character) in line.char_indices() {
        if quoted {
            quoted = character != '"';
            continue;
        }
        if character == '#' {
            end = index;
            break;
        }
        if character.is_whitespace() {
            if let Some(start) = field_start.take() {
                fields.push(&line[start..index]);
            }
            continue;
        }
        field_start.get_or_insert(index);
        quoted = character == '"';
    }
    if let Some(start) = field_start {
        fields.push(&line[start..end]);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `initdb --auth=trust` wrote for clusters of earlier versions (comments shortened).
    const TRUST_HBA: &str = "\
# CAUTION: Configuring the system for local \"trust\" authentication
# TYPE  DATABASE        USER            ADDRESS                 METHOD

# \"local\" is for Unix domain socket connections only
local   all             all                                     trust
# IPv4 local connections:
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
";

    #[test]
    fn every_trust_line_comes_to_require_the_password() {
        assert!(admits_without_password(TRUST_HBA));
        let rewritten = require_password(TRUST_HBA).unwrap();
        assert!(!admits_without_password(&rewritten), "{rewritten}");
        assert!(!rewritten.lines().any(|line| line.ends_with("trust")));
        assert!(rewritten.contains("local\tall\tall\tscram-sha-256\n"));
        assert!(rewritten.contains("host\treplication\tall\t::1/128\tscram-sha-256\n"));
        assert!(rewritten.starts_with("# CAUTION: Configuring the system for local"));
        assert_eq!(rewritten.lines().count(), TRUST_HBA.lines().count());
        assert_eq!(require_password(&rewritten), None, "idempotent");
    }

    #[test]
    fn reject_and_scram_lines_stay_as_they_are() {
        let hba =
            "host all baduser 0.0.0.0/0 reject\nhost  all all 127.0.0.1/32  scram-sha-256 # ok\n";
        assert!(!admits_without_password(hba));
        assert_eq!(require_password(hba), None);
    }

    #[test]
    fn other_methods_lose_their_options() {
        let hba = "host all all 127.0.0.1 255.255.255.255 md5\nhost all all samehost ident map=x\n";
        assert_eq!(
            require_password(hba).unwrap(),
            "host\tall\tall\t127.0.0.1\t255.255.255.255\tscram-sha-256\n\
             host\tall\tall\tsamehost\tscram-sha-256\n"
        );
    }

    #[test]
    fn quoted_fields_keep_spaces_and_hashes() {
        assert_eq!(
            fields(r#"host "my db" all 127.0.0.1/32 trust # note"#),
            vec!["host", "\"my db\"", "all", "127.0.0.1/32", "trust"]
        );
        assert_eq!(
            fields(r#"local "a#b" all trust"#),
            vec!["local", "\"a#b\"", "all", "trust"]
        );
        assert!(fields("   # only a comment").is_empty());
    }

    #[test]
    fn include_directives_are_not_access_rules() {
        assert!(!admits_without_password(
            "include_if_exists extra.conf\ninclude_dir conf.d\n"
        ));
    }
}
