//! Clinical rules and reference data that do not depend on storage: CURP
//! validation, the CIE-10 catalogue, the consult status machine and the
//! structured consult note.

pub mod cie10;
pub mod curp;
pub mod note;
pub mod status;

/// Lower-cases and strips Spanish diacritics, so "José Núñez" is found by
/// "jose nunez": patients' names are typed on phones without accents.
pub fn text_fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn folds_accents_and_case() {
        assert_eq!(super::text_fold("José NÚÑEZ Güemes"), "jose nunez guemes");
    }
}
