-- What a stored message means, fixed when it arrived: fedmsg.meta's words for fedmsg messages,
-- the schema class's for Fedora Messaging (AMQP) ones, whose meaning fedmsg.meta cannot give.
ALTER TABLE messages ADD COLUMN summary text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN link text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN icon text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN agent text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN source text NOT NULL DEFAULT 'fedmsg';
