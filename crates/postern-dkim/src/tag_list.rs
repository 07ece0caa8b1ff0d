//! The tag=value list shared by DKIM-Signature fields and key records (RFC 6376 §3.2).
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//! tval      =  1*VALCHAR            ; VALCHAR = %x21-3A / %x3C-7E
//! ```
//! UTF-8 octets are accepted in values (RFC 8616 §4). White space after the final `;` is
//! accepted, and so are hyphens in tag names after the first letter (`x-custom=`): unknown
//! tags MUST be ignored (§3.2), and deployed key records carry such names.

use std::ops::Range;

/// One `name=value` pair, borrowed from the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// The tag name, as written (names are case-sensitive, RFC 6376 §3.2).
    pub name: &'a str,
    /// The value with leading and trailing white space removed; inner FWS kept.
    pub value: &'a [u8],
    /// Offset of the value within the list.
    pub value_start: usize,
}

/// Why a tag list did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagListError {
    /// The bytes at `offset` do not follow the tag-list grammar.
    Syntax {
        /// Offset of the first byte that does not fit.
        offset: usize,
    },
    /// A tag name appears twice (RFC 6376 §3.2: "MUST be interpreted as a syntax error").
    Duplicate {
        /// The repeated name.
        name: String,
        /// Offset of the second occurrence's value.
        offset: usize,
    },
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_valchar(b: u8) -> bool {
    matches!(b, 0x21..=0x3a | 0x3c..=0x7e | 0x80..=0xff)
}

/// ALNUMPUNC, plus `-` (see the module documentation).
fn is_alnumpunc(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The end of the `[FWS]` starting at `at`: `FWS = [*WSP CRLF] 1*WSP`, and runs of it
/// (obsolete repeated folding included). A CRLF not followed by WSP is not FWS.
#[inline]
fn skip_fws(list: &[u8], at: usize) -> usize {
    // Most places have no white space at all.
    match list.get(at) {
        Some(b' ' | b'\t' | b'\r') => skip_fws_run(list, at),
        _ => at,
    }
}

/// [`skip_fws`] the long way.
fn skip_fws_run(list: &[u8], mut at: usize) -> usize {
    loop {
        match list.get(at) {
            Some(b' ' | b'\t') => at += 1,
            Some(b'\r')
                if list.get(at + 1) == Some(&b'\n')
                    && list.get(at + 2).copied().is_some_and(is_wsp) =>
            {
                at += 3;
            }
            _ => return at,
        }
    }
}

/// The end of the run of bytes matching `pred` starting at `at`.
fn skip_while(list: &[u8], at: usize, pred: impl Fn(u8) -> bool) -> usize {
    list.get(at..)
        .and_then(|rest| rest.iter().position(|&b| !pred(b)))
        .map_or(list.len(), |n| at + n)
}

/// The end of the run of VALCHARs starting at `at`: 32 bytes at a time while a block is all
/// VALCHAR (base64 values, `b=` and `p=`, are hundreds of bytes long), then eight, the first
/// other byte of a word found from its bits.
fn skip_valchars(list: &[u8], mut at: usize) -> usize {
    // 32 bytes at a time with branch-free compares (vectorized), only for long values (whose
    // first word is all VALCHAR).
    if valchar_prefix(list.get(at..).and_then(<[u8]>::first_chunk::<8>)) == 8 {
        while let Some(block) = list.get(at..).and_then(<[u8]>::first_chunk::<32>) {
            let stop = block.iter().fold(0u8, |stop, &b| {
                stop | u8::from(b <= b' ') | u8::from(b == b';') | u8::from(b == 0x7f)
            });
            if stop != 0 {
                break;
            }
            at += 32;
        }
    }
    loop {
        let rest = list.get(at..).unwrap_or_default();
        let word = rest.first_chunk::<8>();
        if word.is_none() {
            // Fewer than eight bytes left.
            return at
                + rest
                    .iter()
                    .position(|&b| !is_valchar(b))
                    .unwrap_or(rest.len());
        }
        let run = valchar_prefix(word);
        at += run;
        if run < 8 {
            return at;
        }
    }
}

/// How many of the eight bytes of `word` are VALCHARs before the first that is not (8 if all
/// are; 0 for no word), exactly, from per-byte bit tests.
fn valchar_prefix(word: Option<&[u8; 8]>) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const LOW7: u64 = ONES * 0x7f;
    const HIGHS: u64 = ONES * 0x80;
    let Some(word) = word else {
        return 0;
    };
    let x = u64::from_le_bytes(*word);
    // Per byte, without carries between bytes: the high bit says "not zero" of the low seven
    // bits plus the high bit.
    let nonzero = |y: u64| (((y & LOW7) + LOW7) | y) & HIGHS;
    // At least 0x21: the low seven bits reach 0x21, or the high bit is set.
    let at_least_21 = (((x & LOW7) + ONES * (0x80 - 0x21)) | x) & HIGHS;
    let valchar = at_least_21 & nonzero(x ^ (ONES * 0x3b)) & nonzero(x ^ (ONES * 0x7f));
    // Little-endian: the first byte is the lowest.
    usize::try_from((!valchar & HIGHS).trailing_zeros() / 8).unwrap_or(8)
}

/// `tag-spec` from `name_start` (where its leading FWS ends): the name's range, the value's
/// range, and where the trailing FWS ends. `None` if there is no `tag-name [FWS] "="` there.
fn tag_spec(list: &[u8], name_start: usize) -> Option<(Range<usize>, Range<usize>, usize)> {
    if !list.get(name_start)?.is_ascii_alphabetic() {
        return None;
    }
    let name_end = skip_while(list, name_start + 1, is_alnumpunc);
    let eq = skip_fws(list, name_end);
    if list.get(eq) != Some(&b'=') {
        return None;
    }
    // tag-value = [ tval *( 1*(WSP / FWS) tval ) ]: FWS belongs to the value only when a tval
    // follows it.
    let value_start = skip_fws(list, eq + 1);
    let mut value_end = value_start;
    let mut at = value_start;
    loop {
        let tval_end = skip_valchars(list, at);
        if tval_end == at {
            break;
        }
        value_end = tval_end;
        at = skip_fws(list, tval_end);
        if at == tval_end {
            break;
        }
    }
    // `at` is where the FWS after the value ends, either way the loop stopped.
    Some((name_start..name_end, value_start..value_end, at))
}

/// Parse a whole tag list. Duplicate names are an error.
///
/// # Errors
/// [`TagListError`] with the offset of the first byte that does not fit, or of the duplicate.
pub fn parse(list: &[u8]) -> Result<Vec<Tag<'_>>, TagListError> {
    // Room for the usual number of tags (a DKIM-Signature has about a dozen).
    let mut tags: Vec<Tag<'_>> = Vec::with_capacity(16);
    parse_each(list, |tag| tags.push(tag))?;
    Ok(tags)
}

/// The single-letter tag names, to name them without a UTF-8 check.
const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A tag name (ALPHA *ALNUMPUNC, so ASCII) as text.
fn name_str(name: &[u8]) -> Option<&str> {
    let index = match name {
        [b @ b'A'..=b'Z'] => b - b'A',
        [b @ b'a'..=b'z'] => b - b'a' + 26,
        _ => return std::str::from_utf8(name).ok(),
    };
    let index = usize::from(index);
    LETTERS.get(index..=index)
}

/// The tag names seen so far in a list: a bit per single-letter name (most tags), the longer
/// ones listed (the first few inline: a list is parsed without allocating).
struct SeenNames<'a> {
    letters: u64,
    inline: [&'a [u8]; 8],
    inline_len: usize,
    more: Vec<&'a [u8]>,
}

impl<'a> SeenNames<'a> {
    fn new() -> Self {
        Self {
            letters: 0,
            inline: [&[]; 8],
            inline_len: 0,
            more: Vec::new(),
        }
    }

    /// Record `name` (a tag name: starts with a letter); whether it was new.
    fn insert(&mut self, name: &'a [u8]) -> bool {
        if let [letter] = name {
            // ASCII letters map to distinct bits 1..=26 and 33..=58.
            let bit = 1u64 << (letter & 0x3f);
            let new = self.letters & bit == 0;
            self.letters |= bit;
            return new;
        }
        let listed = self.inline.get(..self.inline_len).unwrap_or_default();
        if listed.contains(&name) || self.more.contains(&name) {
            return false;
        }
        if let Some(slot) = self.inline.get_mut(self.inline_len) {
            *slot = name;
            self.inline_len += 1;
        } else {
            self.more.push(name);
        }
        true
    }
}

/// [`parse`], handing each tag to `each` in order instead of collecting them (on an error, the
/// tags before it have been handed out).
///
/// # Errors
/// As [`parse`].
pub(crate) fn parse_each<'a>(
    list: &'a [u8],
    mut each: impl FnMut(Tag<'a>),
) -> Result<(), TagListError> {
    let mut seen = SeenNames::new();
    let mut at = 0;
    loop {
        // Only white space after the last ';' (or an entirely blank list) ends the list.
        let name_start = skip_fws(list, at);
        if name_start == list.len() {
            break;
        }
        let syntax = TagListError::Syntax { offset: at };
        let (name, value, after) = tag_spec(list, name_start).ok_or_else(|| syntax.clone())?;
        let name_bytes = list.get(name).ok_or_else(|| syntax.clone())?;
        let name = name_str(name_bytes).ok_or(syntax)?;
        let value_start = value.start;
        if !seen.insert(name_bytes) {
            return Err(TagListError::Duplicate {
                name: name.to_owned(),
                offset: value_start,
            });
        }
        each(Tag {
            name,
            value: list.get(value).unwrap_or_default(),
            value_start,
        });
        match list.get(after) {
            None => break,
            Some(b';') => at = after + 1,
            Some(_) => return Err(TagListError::Syntax { offset: after }),
        }
    }
    Ok(())
}

/// The byte range of the value of tag `name` as a verifier removes it for hashing: from just
/// after the `=` to the next `;` (or the end), so that surrounding white space goes too
/// (RFC 6376 §3.5, `b=`: "including all surrounding whitespace").
pub(crate) fn removal_range(list: &[u8], tag: &Tag<'_>) -> Range<usize> {
    // Walk back from the value start over FWS to the '='.
    let mut start = tag.value_start;
    while start > 0 && list.get(start - 1).is_some_and(|&b| b != b'=') {
        start -= 1;
    }
    let end = list
        .get(tag.value_start..)
        .and_then(|tail| memchr::memchr(b';', tail))
        .map_or(list.len(), |i| tag.value_start + i);
    start..end
}

/// A forgiving reading of `name` for reports about signatures that do not parse: the value of
/// the first `name=` among `;`-separated pieces, trimmed.
pub(crate) fn lenient_value<'a>(list: &'a [u8], name: &str) -> Option<&'a [u8]> {
    list.split(|&b| b == b';').find_map(|piece| {
        let eq = memchr::memchr(b'=', piece)?;
        let (n, v) = (piece.get(..eq)?, piece.get(eq + 1..)?);
        (n.trim_ascii() == name.as_bytes()).then(|| v.trim_ascii())
    })
}

/// Remove every FWS byte (space, tab, CR, LF) from a value: base64 and `h=` lists may be
/// folded anywhere. Borrows when there is nothing to remove (the common case).
pub(crate) fn strip_fws(value: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_fws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if !value.iter().any(is_fws) {
        return std::borrow::Cow::Borrowed(value);
    }
    std::borrow::Cow::Owned(value.iter().copied().filter(|b| !is_fws(b)).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The nom grammar this module was first written with: the reference for [`parse`].
    mod reference {
        use nom::{
            IResult, Parser,
            branch::alt,
            bytes::complete::{tag, take_while, take_while1},
            combinator::{opt, recognize},
            multi::{many0, many1},
            sequence::pair,
        };

        use super::super::{Tag, TagListError, is_alnumpunc, is_valchar, is_wsp};

        fn fws(input: &[u8]) -> IResult<&[u8], &[u8]> {
            recognize(many1(alt((
                take_while1(is_wsp),
                recognize(pair(tag("\r\n"), take_while1(is_wsp))),
            ))))
            .parse(input)
        }

        fn tag_name(input: &[u8]) -> IResult<&[u8], &[u8]> {
            recognize(pair(
                take_while1(|b: u8| b.is_ascii_alphabetic()),
                take_while(is_alnumpunc),
            ))
            .parse(input)
        }

        fn tag_value(input: &[u8]) -> IResult<&[u8], &[u8]> {
            recognize(opt(pair(
                take_while1(is_valchar),
                many0(pair(fws, take_while1(is_valchar))),
            )))
            .parse(input)
        }

        type TagSpec<'a> = (&'a [u8], &'a [u8], usize);

        fn tag_spec(input: &[u8]) -> IResult<&[u8], TagSpec<'_>> {
            let (input, _) = opt(fws).parse(input)?;
            let (input, name) = tag_name(input)?;
            let (input, _) = opt(fws).parse(input)?;
            let (input, _) = tag("=").parse(input)?;
            let (input, _) = opt(fws).parse(input)?;
            let (input, value) = tag_value(input)?;
            let left_after_value = input.len();
            let (input, _) = opt(fws).parse(input)?;
            Ok((input, (name, value, left_after_value)))
        }

        fn offset_of(whole: &[u8], rest: &[u8]) -> usize {
            whole.len().saturating_sub(rest.len())
        }

        pub(super) fn parse(list: &[u8]) -> Result<Vec<Tag<'_>>, TagListError> {
            let mut tags: Vec<Tag<'_>> = Vec::new();
            let mut rest = list;
            loop {
                if let Ok((after, _)) = opt(fws).parse(rest)
                    && after.is_empty()
                {
                    break;
                }
                let (after, (name, value, left_after_value)) =
                    tag_spec(rest).map_err(|_| TagListError::Syntax {
                        offset: offset_of(list, rest),
                    })?;
                let value_start = list
                    .len()
                    .saturating_sub(left_after_value)
                    .saturating_sub(value.len());
                let name = std::str::from_utf8(name).map_err(|_| TagListError::Syntax {
                    offset: offset_of(list, rest),
                })?;
                if tags.iter().any(|t| t.name == name) {
                    return Err(TagListError::Duplicate {
                        name: name.to_owned(),
                        offset: value_start,
                    });
                }
                tags.push(Tag {
                    name,
                    value,
                    value_start,
                });
                match after.split_first() {
                    None => break,
                    Some((b';', tail)) => rest = tail,
                    Some(_) => {
                        return Err(TagListError::Syntax {
                            offset: offset_of(list, after),
                        });
                    }
                }
            }
            Ok(tags)
        }
    }

    /// Lists made of the bytes the grammar cares about, some shaped like real tag lists.
    fn list_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            3 => Just(b"a".to_vec()),
            1 => Just(b"Z9".to_vec()),
            1 => Just(b"bh".to_vec()),
            1 => Just(b"x-y_z".to_vec()),
            1 => Just(b"1".to_vec()),
            3 => Just(b"=".to_vec()),
            3 => Just(b";".to_vec()),
            2 => Just(b" ".to_vec()),
            1 => Just(b"\t".to_vec()),
            2 => Just(b"\r\n ".to_vec()),
            1 => Just(b"\r\n".to_vec()),
            1 => Just(b"\r".to_vec()),
            1 => Just(b"\n".to_vec()),
            1 => Just(b"v=1; a=rsa-sha256; b=dGVz\r\n\tdA==; ".to_vec()),
            1 => Just(b"abcdefghijklmnopqrstu".to_vec()),
            1 => Just(b"\x7f".to_vec()),
            1 => Just(b"\x80\xff".to_vec()),
            1 => Just("\u{e9}".as_bytes().to_vec()),
            1 => any::<u8>().prop_map(|b| vec![b]),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The hand-written parser gives exactly the nom grammar's tags and errors (offsets
        /// included), for any bytes.
        #[test]
        fn parse_matches_the_nom_grammar(list in list_bytes()) {
            prop_assert_eq!(parse(&list), reference::parse(&list));
        }
    }

    #[test]
    fn parses_with_folding_and_trailing_semicolon() {
        let list = b" v=1; a=rsa-sha256;\r\n\tb=abc\r\n def ; bh = x ;  ";
        let tags = parse(list).unwrap();
        let names: Vec<_> = tags.iter().map(|t| t.name).collect();
        assert_eq!(names, ["v", "a", "b", "bh"]);
        assert_eq!(tags[2].value, b"abc\r\n def");
        assert_eq!(tags[3].value, b"x");
        let r = removal_range(list, &tags[2]);
        assert_eq!(&list[r], b"abc\r\n def ");
    }

    #[test]
    fn rejects_malformations() {
        assert!(matches!(
            parse(b"a=1; a=2"),
            Err(TagListError::Duplicate { .. })
        ));
        assert!(matches!(
            parse(b"a=1; garbage; b=2"),
            Err(TagListError::Syntax { offset: 4 })
        ));
        assert!(parse(b"a=1;;b=2").is_err());
        assert!(parse(b"1a=2").is_err());
        assert!(parse(b"a=1\r\nb=2").is_err());
        assert!(parse(b"a=x y").is_ok());
        assert!(parse(b"").unwrap().is_empty());
        assert_eq!(parse(b"p=").unwrap()[0].value, b"");
    }

    /// The word-wise VALCHAR count agrees with the byte test, for every byte at every place.
    #[test]
    fn valchar_prefix_finds_the_first_other_byte() {
        for byte in 0..=u8::MAX {
            for place in 0..8 {
                let mut word = *b"abcdefgh";
                word[place] = byte;
                let expected = if is_valchar(byte) { 8 } else { place };
                assert_eq!(
                    valchar_prefix(Some(&word)),
                    expected,
                    "{byte:#x} at {place}"
                );
                // Bytes after the first other one do not matter.
                word[7] = b' ';
                let expected = if is_valchar(byte) { 7 } else { place };
                assert_eq!(
                    valchar_prefix(Some(&word)),
                    expected,
                    "{byte:#x} at {place}"
                );
            }
        }
        assert_eq!(valchar_prefix(None), 0);
    }

    #[test]
    fn duplicates_found_among_many_names() {
        let names: Vec<String> = (0..12).map(|i| format!("name{i}")).collect();
        let list = names.join("=1;") + "=1;";
        assert_eq!(parse(list.as_bytes()).unwrap().len(), 12);
        for repeated in [&names[0], &names[9], &names[11]] {
            let with_repeat = format!("{list}{repeated}=2");
            assert!(matches!(
                parse(with_repeat.as_bytes()),
                Err(TagListError::Duplicate { name, .. }) if &name == repeated
            ));
        }
        // Names are case-sensitive, single letters included.
        let cased = parse(b"a=1; A=2; z=3; Z=4; bh=5; bH=6").unwrap();
        assert_eq!(
            cased.iter().map(|t| t.name).collect::<Vec<_>>(),
            ["a", "A", "z", "Z", "bh", "bH"]
        );
        assert!(parse(b"Z=1; b=2; Z=3").is_err());
    }

    #[test]
    fn lenient_reading() {
        assert_eq!(
            lenient_value(b"v=1; d= a.b ; x; s=s1", "d"),
            Some(&b"a.b"[..])
        );
        assert_eq!(lenient_value(b"v=1; x", "s"), None);
    }
}
