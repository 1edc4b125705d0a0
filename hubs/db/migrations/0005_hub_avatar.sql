-- A hub's picture (an http(s) URL; empty: the hub's initial is shown).
ALTER TABLE hubs ADD COLUMN avatar text NOT NULL DEFAULT '';
