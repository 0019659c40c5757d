/**
 * Which earlier tars a tar may leave a blob out for (docs/formats.md, "Deduplication"): `name`, only earlier tars
 * of the same name, as ace-dt (the far side loads a name into one repository); `all`, any earlier tar.
 */
export type DedupScope = 'name' | 'all';
