//! The CIE-10 (ICD-10, Spanish edition as used in Mexico) catalogue that a
//! specialist picks diagnoses from when writing a consult note.
//!
//! Diagnoses are stored as codes so that referrals and statistics agree with
//! the Secretaría de Salud's records, and a free-text diagnosis cannot be
//! counted. The catalogue is a curated subset (`data/cie10-es.tsv`) compiled
//! into the binary, so it needs no database table and no network, and is
//! searched in memory: at a few hundred codes, a linear scan answers faster
//! than a round trip to the database would.

use super::text_fold;
use std::sync::OnceLock;

/// One diagnosis code with its official Spanish title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cie10Code {
    /// With a dot after the category ("E11.9"), or the bare category for
    /// codes without subdivisions ("I10").
    pub code: &'static str,
    pub description: &'static str,
}

/// At most this many results, whatever the caller asks for: the list is read
/// on a phone, and a longer one means the query should be more specific.
const MAX_RESULTS: usize = 50;

const DATA: &str = include_str!("../../data/cie10-es.tsv");

struct Catalogue {
    codes: Vec<Cie10Code>,
    /// Parallel to `codes`: what search compares against, computed once.
    keys: Vec<SearchKey>,
}

struct SearchKey {
    /// Upper-case, without the dot: "E119".
    compact: String,
    /// The description's words, lower-cased and without accents.
    words: Vec<String>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        // Malformed lines are skipped rather than panicking in a request;
        // the tests below reject them before they can ship.
        let codes: Vec<Cie10Code> = DATA
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once('\t'))
            .map(|(code, description)| Cie10Code {
                code: code.trim(),
                description: description.trim(),
            })
            .collect();
        let keys = codes
            .iter()
            .map(|c| SearchKey {
                compact: compact_code(c.code),
                words: words(&text_fold(c.description)),
            })
            .collect();
        Catalogue { codes, keys }
    })
}

/// The whole catalogue, in code order.
pub fn all() -> &'static [Cie10Code] {
    &catalogue().codes
}

/// Finds a code however it was typed: any case, with or without the dot, and
/// with the "X" filler that SINAVE and SINBA forms add to three-character
/// codes ("I10X").
pub fn lookup(code: &str) -> Option<&'static Cie10Code> {
    let mut wanted = compact_code(code.trim());
    if wanted.len() == 4 && wanted.ends_with('X') {
        wanted.pop();
    }
    let catalogue = catalogue();
    let i = catalogue.keys.iter().position(|k| k.compact == wanted)?;
    Some(&catalogue.codes[i])
}

/// Codes whose code or description matches every word of `query`. A word
/// matches when it starts the code (dot optional) or starts a word of the
/// description, ignoring case and accents, so "hiperten arter" finds
/// "Hipertensión" and "e11" finds all of E11. An exact code comes first,
/// then other code matches, then description matches, each in code order.
pub fn search(query: &str, limit: usize) -> Vec<&'static Cie10Code> {
    let limit = limit.min(MAX_RESULTS);
    let mut terms: Vec<Term> = query.split_whitespace().filter_map(Term::new).collect();
    // Repeating a word changes nothing, and deduplicating keeps a long
    // pasted query from costing more than its distinct words.
    terms.sort_by(|a, b| a.code.cmp(&b.code).then_with(|| a.words.cmp(&b.words)));
    terms.dedup_by(|a, b| a.code == b.code && a.words == b.words);
    if terms.is_empty() || limit == 0 {
        return Vec::new();
    }

    let catalogue = catalogue();
    let mut ranked: Vec<(Rank, usize)> = catalogue
        .keys
        .iter()
        .enumerate()
        .filter_map(|(i, key)| rank(&terms, key).map(|r| (r, i)))
        .collect();
    ranked.sort_unstable();
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, i)| &catalogue.codes[i])
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    ExactCode,
    CodePrefix,
    Description,
}

/// One whitespace-separated word of the query, prepared both ways it can
/// match.
struct Term {
    /// As a code: upper-case, dots removed.
    code: String,
    /// As text: folded, split where the description would be split, so
    /// "covid-19" needs both "covid" and "19".
    words: Vec<String>,
}

impl Term {
    /// `None` for words with no letters or digits (a lone "-" or an emoji):
    /// they cannot match a description word and would otherwise either
    /// match nothing or, vacuously, everything.
    fn new(raw: &str) -> Option<Term> {
        let words = words(&text_fold(raw));
        if words.is_empty() {
            return None;
        }
        Some(Term {
            code: compact_code(raw),
            words,
        })
    }
}

fn rank(terms: &[Term], key: &SearchKey) -> Option<Rank> {
    let mut best = Rank::Description;
    for term in terms {
        if key.compact.starts_with(&term.code) {
            best = best.min(if key.compact == term.code {
                Rank::ExactCode
            } else {
                Rank::CodePrefix
            });
        } else if !term.words.iter().all(|w| key.words.iter().any(|d| d.starts_with(w))) {
            return None;
        }
    }
    Some(best)
}

fn compact_code(code: &str) -> String {
    code.chars()
        .filter(|&c| c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn codes(results: &[&Cie10Code]) -> Vec<&'static str> {
        results.iter().map(|c| c.code).collect()
    }

    fn is_code(code: &str) -> bool {
        let b = code.as_bytes();
        let category = b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
        category && (b.len() == 3 || (b.len() == 5 && b[3] == b'.' && b[4].is_ascii_digit()))
    }

    #[test]
    fn data_file_is_well_formed() {
        let mut seen = HashSet::new();
        let mut previous = String::new();
        let mut count = 0;
        for (n, line) in DATA.lines().enumerate() {
            let n = n + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            count += 1;
            assert_eq!(
                line.matches('\t').count(),
                1,
                "line {n} must have exactly one tab: {line:?}"
            );
            let (code, description) = line.split_once('\t').unwrap();
            assert!(is_code(code), "line {n}: {code:?} is not a code like E11.9 or I10");
            assert!(seen.insert(code), "line {n}: duplicate code {code}");
            assert!(!description.is_empty(), "line {n}: empty description");
            assert_eq!(description, description.trim(), "line {n}: stray whitespace");
            assert!(!description.contains("  "), "line {n}: double space");
            assert!(!line.contains('\r'), "line {n}: carriage return");
            let compact = compact_code(code);
            assert!(compact > previous, "line {n}: {code} is out of code order");
            previous = compact;
        }
        assert_eq!(all().len(), count);
        assert!((400..=650).contains(&count), "{count} codes");
    }

    #[test]
    fn only_codes_valid_for_coding() {
        // A three-character category with subdivisions is not a valid
        // diagnosis; the note must name the subdivision.
        for c in all() {
            if !c.code.contains('.') {
                let prefix = format!("{}.", c.code);
                assert!(
                    !all().iter().any(|o| o.code.starts_with(&prefix)),
                    "{} has subdivisions in the catalogue",
                    c.code
                );
            }
        }
    }

    #[test]
    fn expected_codes_are_present() {
        for code in [
            "E11.9", "E10.9", "E14.9", "I10", "I50.0", "I48.0", "N18.5", "J00", "J18.9", "J45.9", "J44.9", "A15.0",
            "U07.1", "U07.2", "A09.0", "A97.1", "B57.2", "B24", "O14.1", "O24.4", "Z34.9", "Z35.9", "E44.0", "E66.9",
            "D50.9", "E03.9", "F32.9", "F41.1", "F10.2", "G40.9", "G43.9", "I63.9", "L20.9", "M54.5", "M17.9", "N39.0",
            "H25.9", "H40.1", "H36.0", "H66.9", "S93.4", "C50.9", "C53.9", "C61", "Z12.4", "Z00.0", "R50.9", "R05",
            "R07.4", "R10.4", "R51",
        ] {
            assert!(lookup(code).is_some(), "{code} missing");
        }
    }

    #[test]
    fn lookup_accepts_any_spelling_of_a_code() {
        let e119 = lookup("E11.9").unwrap();
        assert_eq!(e119.code, "E11.9");
        assert!(e119.description.starts_with("Diabetes mellitus tipo 2"));
        for spelling in ["e119", "e11.9", " E11.9 ", "E119"] {
            assert_eq!(lookup(spelling), Some(e119), "{spelling}");
        }
        assert_eq!(lookup("I10").unwrap().code, "I10");
        assert_eq!(lookup("i10x").unwrap().code, "I10");
        assert_eq!(lookup("R05X").unwrap().code, "R05");
    }

    #[test]
    fn lookup_rejects_unknown_and_partial_codes() {
        for code in [
            "",
            "E11",
            "E11.",
            "E11.99",
            "X99.9",
            "I10XX",
            "I1",
            "diabetes",
            "🙂",
            "E11.9🙂",
        ] {
            assert_eq!(lookup(code), None, "{code:?}");
        }
    }

    #[test]
    fn search_finds_by_description_word() {
        let found = codes(&search("diabetes", 50));
        assert!(found.contains(&"E11.9"), "{found:?}");
        assert!(found
            .iter()
            .all(|c| lookup(c).unwrap().description.to_lowercase().contains("diabetes")));
    }

    #[test]
    fn search_ignores_accents_and_case() {
        for q in [
            "hipertension",
            "HIPERTENSIÓN",
            "Hipertensión esencial",
            "hiperten primaria",
        ] {
            assert!(codes(&search(q, 50)).contains(&"I10"), "{q}");
        }
        assert!(codes(&search("rubeola", 10)).contains(&"B06.9"));
        assert!(codes(&search("ÚLCERA gastrica", 10)).contains(&"K25.9"));
    }

    #[test]
    fn search_needs_every_word() {
        let found = codes(&search("diabetes renales", 50));
        assert!(found.contains(&"E11.2") && found.contains(&"E10.2"), "{found:?}");
        assert!(!found.contains(&"E11.9"));
        assert!(search("diabetes zzzz", 50).is_empty());
    }

    #[test]
    fn search_matches_word_prefixes_only() {
        assert!(codes(&search("neumo", 50)).contains(&"J18.9"));
        // "tensión" is inside "hipertensión" but does not start a word.
        assert!(!codes(&search("tension", 50)).contains(&"I10"));
    }

    #[test]
    fn search_by_code_puts_the_exact_code_first() {
        assert_eq!(search("I10", 10)[0].code, "I10");
        assert_eq!(search("i10", 10)[0].code, "I10");
        assert_eq!(search("e119", 10)[0].code, "E11.9");
        assert_eq!(search("E11.9", 10)[0].code, "E11.9");
        let e11 = codes(&search("E11", 50));
        assert_eq!(e11.len(), 10);
        assert_eq!(e11[0], "E11.0");
        assert!(e11.iter().all(|c| c.starts_with("E11.")));
    }

    #[test]
    fn search_ranks_code_matches_before_description_matches() {
        // "c50" starts the breast codes; no description word starts with it.
        let found = codes(&search("c50", 50));
        assert!(found.iter().all(|c| c.starts_with("C50.")));
        // A code word and a description word together narrow the codes.
        assert_eq!(codes(&search("E11 renales", 50)), ["E11.2"]);
        // Description matches come in code order.
        let dengue = codes(&search("dengue", 50));
        assert_eq!(dengue, ["A97.0", "A97.1", "A97.2", "A97.9"]);
    }

    #[test]
    fn search_respects_limit() {
        assert_eq!(search("de", 5).len(), 5);
        assert_eq!(search("de", 1000).len(), MAX_RESULTS);
        assert!(search("diabetes", 0).is_empty());
    }

    #[test]
    fn empty_and_weird_queries_do_not_panic() {
        assert!(search("", 10).is_empty());
        assert!(search("   \t\n ", 10).is_empty());
        assert!(search("🙂", 10).is_empty());
        assert!(search("- . ,", 10).is_empty());
        assert!(search("ÑÑÑ 🙂 ñandú", 10).is_empty());
        let long = "diabetes hipertensión ñ 🙂 ".repeat(400);
        assert!(long.len() > 10_000);
        let _ = search(&long, 50);
        let _ = search(&"a".repeat(10_000), 50);
        let _ = search(&"a ".repeat(5_000), 50);
        let _ = lookup(&long);
    }
}
