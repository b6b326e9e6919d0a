//! An image config's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...) resolved against the
//! image's own `/etc/passwd` and `/etc/group`, as Docker resolves it: a name must be found, a
//! number need not; the user's supplementary groups are every group of `/etc/group` listing
//! it, plus its primary group (CVE-2022-36109, CVE-2023-25173: groups an image gives a user
//! are set, not forgotten).

/// The credentials a `User` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one first.
    pub groups: Vec<u32>,
}

/// Why a `User` cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user {0:?} not found in the image's /etc/passwd")]
    NoSuchUser(String),
    #[error("group {0:?} not found in the image's /etc/group")]
    NoSuchGroup(String),
    #[error("malformed user {0:?}")]
    Malformed(String),
}

/// One `/etc/passwd` line's name, uid and gid.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

/// One `/etc/group` line's name, gid and members.
struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some(PasswdEntry { name, uid, gid })
    })
}

fn groups(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        let gid = f.next()?.parse().ok()?;
        let members = f.next().unwrap_or("").split(',').filter(|m| !m.is_empty()).collect();
        Some(GroupEntry { name, gid, members })
    })
}

/// Resolves `user` (an image config's `User`; empty means root) against the image's
/// `/etc/passwd` and `/etc/group` texts (`None`: the file is missing).
pub fn resolve(user: &str, passwd_text: Option<&str>, group_text: Option<&str>) -> Result<Credentials, UserError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if user_part.is_empty() && group_part.is_some() {
        return Err(UserError::Malformed(user.into()));
    }
    let passwd_text = passwd_text.unwrap_or("");
    let group_text = group_text.unwrap_or("");
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    // A name, or a number that may or may not have an entry (its name then gives groups).
    let entry = passwd(passwd_text).find(|e| e.name == user_part);
    let (uid, name, primary) = match (entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, Some(e.name), Some(e.gid)),
        (None, Ok(uid)) => {
            let by_uid = passwd(passwd_text).find(|e| e.uid == uid);
            (uid, by_uid.as_ref().map(|e| e.name), by_uid.map(|e| e.gid))
        }
        (None, Err(_)) => return Err(UserError::NoSuchUser(user_part.into())),
    };
    let gid = match group_part {
        None => primary.unwrap_or(0),
        Some("") => return Err(UserError::Malformed(user.into())),
        Some(g) => match groups(group_text).find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| UserError::NoSuchGroup(g.into()))?,
        },
    };
    let mut all = vec![gid];
    if group_part.is_none()
        && let Some(name) = name
    {
        for g in groups(group_text).filter(|g| g.members.contains(&name)) {
            if !all.contains(&g.gid) {
                all.push(g.gid);
            }
        }
    }
    Ok(Credentials { uid, gid, groups: all })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101::/var/lib/nginx:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nshadow:x:42:bob\nnginx:x:101:\nbob:x:1000:\nwheel:x:10:root,bob\n";

    fn creds(user: &str) -> Result<Credentials, UserError> {
        resolve(user, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn names_and_numbers_resolve_with_their_groups() {
        let c = |uid, gid, groups: &[u32]| Credentials {
            uid,
            gid,
            groups: groups.to_vec(),
        };
        assert_eq!(creds(""), Ok(c(0, 0, &[0, 10])));
        assert_eq!(creds("nginx"), Ok(c(101, 101, &[101])));
        assert_eq!(creds("bob"), Ok(c(1000, 1000, &[1000, 42, 10])));
        assert_eq!(creds("1000"), Ok(c(1000, 1000, &[1000, 42, 10])));
        assert_eq!(creds("4242"), Ok(c(4242, 0, &[0])));
        assert_eq!(creds("bob:shadow"), Ok(c(1000, 42, &[42])));
        assert_eq!(creds("1000:7"), Ok(c(1000, 7, &[7])));
    }

    #[test]
    fn unknown_names_and_malformed_users_are_errors() {
        assert_eq!(creds("nobody"), Err(UserError::NoSuchUser("nobody".into())));
        assert_eq!(creds("bob:staff"), Err(UserError::NoSuchGroup("staff".into())));
        assert_eq!(creds(":0"), Err(UserError::Malformed(":0".into())));
        assert_eq!(creds("bob:"), Err(UserError::Malformed("bob:".into())));
        assert_eq!(resolve("root", None, None), Err(UserError::NoSuchUser("root".into())));
        assert_eq!(resolve("0", None, None).map(|c| c.uid), Ok(0));
    }
}
