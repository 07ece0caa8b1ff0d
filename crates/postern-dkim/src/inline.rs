//! A list that holds its first item inline.

/// A list whose first item lives inline: no allocation for the usual single item (one
/// signature, one key query, one body hash per message). Items are only ever appended.
#[derive(Debug)]
pub(crate) struct InlineFirst<T> {
    /// The first item; `None` only while the list is empty.
    first: Option<T>,
    /// The items after the first.
    rest: Vec<T>,
}

impl<T> Default for InlineFirst<T> {
    fn default() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<T> InlineFirst<T> {
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.first.is_none() {
            self.first = Some(item);
        } else {
            self.rest.push(item);
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        match i.checked_sub(1) {
            None => self.first.as_ref(),
            Some(i) => self.rest.get(i),
        }
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        match i.checked_sub(1) {
            None => self.first.as_mut(),
            Some(i) => self.rest.get_mut(i),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.first.iter().chain(&self.rest)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.first.iter_mut().chain(&mut self.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec() {
        let mut list = InlineFirst::default();
        let mut vec = Vec::new();
        for i in 0..5 {
            assert_eq!(list.len(), vec.len());
            assert!(list.iter().eq(vec.iter()));
            for j in 0..=vec.len() {
                assert_eq!(list.get(j), vec.get(j));
            }
            list.push(i);
            vec.push(i);
        }
        for (a, b) in list.iter_mut().zip(&mut vec) {
            *a *= 10;
            *b *= 10;
        }
        if let (Some(a), Some(b)) = (list.get_mut(3), vec.get_mut(3)) {
            *a += 1;
            *b += 1;
        }
        assert!(list.iter().eq(vec.iter()));
    }
}
