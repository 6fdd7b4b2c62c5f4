-- v4: the table a publish or a migration locks (LOCK TABLE ... IN EXCLUSIVE MODE) so that
-- writers serialise. Unlike an advisory-lock key, which any session may take, only roles
-- with UPDATE on this table can lock it: finance cannot block `riskcast publish`.
CREATE TABLE publish_lock (
    name VARCHAR(64) PRIMARY KEY
);
