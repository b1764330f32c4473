-- An admin's reset of an operator's two-factor sign-in obliges them to
-- enrol again before anything else (issue 14): without this flag a reset
-- left the password alone enough to sign in and work.
ALTER TABLE operators ADD COLUMN must_enrol_totp INTEGER NOT NULL DEFAULT 0;
