"""Tests for L{ganeti_rapi.engine.tags}: Ganeti's tag rules."""

from twisted.trial.unittest import SynchronousTestCase

from ganeti_rapi.engine import tags
from ganeti_rapi.engine.errors import TagError


class ValidateTagTests(SynchronousTestCase):
    """L{tags.validate_tag}."""

    def test_ordinary_tags(self):
        """Letters, digits and the characters _ . + * / : @ - are accepted."""
        for tag in ["web", "a_b", "x.y+z*w", "owner:ops@example.com", "rack/4-b", "0"]:
            tags.validate_tag(tag)

    def test_unicode_letters(self):
        """Non-ASCII letters count as word characters, as in Ganeti."""
        tags.validate_tag("größe")

    def test_longest(self):
        """A tag of exactly 128 characters is accepted."""
        tags.validate_tag("a" * 128)

    def test_too_long(self):
        """A tag of 129 characters is refused with Ganeti's message."""
        e = self.assertRaises(TagError, tags.validate_tag, "a" * 129)
        self.assertEqual(e.args[0], "Tag too long (>128 characters)")

    def test_empty(self):
        """The empty string is not a tag."""
        e = self.assertRaises(TagError, tags.validate_tag, "")
        self.assertEqual(e.args[0], "Tags cannot be empty")

    def test_invalid_characters(self):
        """Spaces, commas, quotes and other punctuation are refused."""
        for tag in ["a b", "a,b", "a'b", 'a"b', "a;b", "a=b", "a#b", "(x)"]:
            e = self.assertRaises(TagError, tags.validate_tag, tag)
            self.assertEqual(e.args[0], "Tag contains invalid characters")

    def test_trailing_newline(self):
        """A trailing newline is refused (it would pass a naive C{$} match)."""
        self.assertRaises(TagError, tags.validate_tag, "abc\n")

    def test_not_a_string(self):
        """Numbers and None are not tags."""
        for tag in [1, None, b"abc", ["a"]]:
            e = self.assertRaises(TagError, tags.validate_tag, tag)
            self.assertEqual(e.args[0], "Invalid tag type (not a string)")

    def test_error_encoding(self):
        """A tag error lands in a job's result as TagError with its message."""
        e = self.assertRaises(TagError, tags.validate_tag, "")
        self.assertEqual(e.encode(), ["TagError", ["Tags cannot be empty"]])


class ValidateTagsTests(SynchronousTestCase):
    """L{tags.validate_tags}: lists of tags and the per-object limit."""

    def test_returns_set(self):
        """The tags come back as a set, duplicates collapsed."""
        self.assertEqual(tags.validate_tags(["a", "b", "a"]), {"a", "b"})

    def test_most_tags(self):
        """4096 tags on one object are accepted."""
        many = ["t%d" % i for i in range(tags.MAX_TAGS_PER_OBJ)]
        self.assertEqual(len(tags.validate_tags(many)), 4096)

    def test_too_many(self):
        """4097 tags on one object are refused."""
        many = ["t%d" % i for i in range(tags.MAX_TAGS_PER_OBJ + 1)]
        e = self.assertRaises(TagError, tags.validate_tags, many)
        self.assertEqual(e.args[0], "Too many tags")

    def test_too_many_with_existing(self):
        """Existing tags count towards the limit; tags already present do not twice."""
        existing = {"t%d" % i for i in range(tags.MAX_TAGS_PER_OBJ)}
        tags.validate_tags(["t0", "t1"], existing)
        self.assertRaises(TagError, tags.validate_tags, ["new"], existing)

    def test_one_bad_tag(self):
        """One invalid tag makes the whole list invalid."""
        self.assertRaises(TagError, tags.validate_tags, ["good", "bad tag"])

    def test_string_is_not_a_list(self):
        """A bare string is refused rather than taken as a list of characters."""
        self.assertRaises(TagError, tags.validate_tags, "abc")
