//! The kernel's list syntax for CPUs and memory nodes (`cpuset.cpus`, `/sys/devices/system/cpu/online`):
//! `0-3,5,7-8`, numbers and inclusive ranges separated by commas.

/// A parsed list: inclusive ranges, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdList(Vec<(u32, u32)>);

impl IdList {
    /// Parses `0-3,5`: no spaces, no empty part, every range ascending, every number a `u32`.
    /// A file's trailing newline is the caller's to trim.
    pub fn parse(list: &str) -> Option<IdList> {
        let number = |s: &str| match !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            true => s.parse::<u32>().ok(),
            false => None,
        };
        let ranges = list
            .split(',')
            .map(|part| match part.split_once('-') {
                None => number(part).map(|n| (n, n)),
                Some((first, last)) => {
                    let (first, last) = (number(first)?, number(last)?);
                    (first <= last).then_some((first, last))
                }
            })
            .collect::<Option<Vec<_>>>()?;
        Some(IdList(ranges))
    }

    /// How many ids the list names (an id named twice counts twice; the kernel's own lists,
    /// the only ones counted, name each once).
    pub fn count(&self) -> u64 {
        self.0.iter().map(|(a, b)| u64::from(b - a) + 1).sum()
    }

    /// The first id of `self` (in the order given) that `other` does not name. Walks ranges,
    /// not ids, so `0-4294967295` costs no more than `0`.
    pub fn first_not_in(&self, other: &IdList) -> Option<u32> {
        self.0.iter().find_map(|&(first, last)| {
            let mut id = first;
            loop {
                let Some(&(_, end)) = other.0.iter().find(|&&(a, b)| a <= id && id <= b) else {
                    return Some(id);
                };
                match end.checked_add(1) {
                    Some(next) if next <= last => id = next,
                    _ => return None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> IdList {
        IdList::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn lists_parse_or_are_refused() {
        for ok in ["0", "0-3", "0,2,4-7", "4294967295"] {
            assert!(IdList::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "3-1",
            "1,",
            "-1",
            "1-",
            " 1",
            "1 ",
            "0-3:2/4",
            "4294967296",
            "+1",
        ] {
            assert_eq!(IdList::parse(bad), None, "{bad}");
        }
        assert_eq!(list("0-3,5").count(), 5);
    }

    #[test]
    fn first_id_outside_another_list() {
        let online = list("0-1,4-5");
        assert_eq!(list("0-1").first_not_in(&online), None);
        assert_eq!(list("5,4,0").first_not_in(&online), None);
        assert_eq!(list("0-5").first_not_in(&online), Some(2));
        assert_eq!(list("99").first_not_in(&online), Some(99));
        assert_eq!(list("1,6").first_not_in(&online), Some(6));
        assert_eq!(list("0-4294967295").first_not_in(&list("0-4294967295")), None);
        assert_eq!(list("0-4294967295").first_not_in(&list("0-7")), Some(8));
    }
}
