-- schema: the tables of Firefly's Diablo sample (tb_user, tb_character) and tb_item, the
-- generic table of the tests and the bench. Loaded by scripts/db.sh on every start, so every
-- statement is idempotent. No AUTO_INCREMENT: dbfront allocates the ids (and creates its own
-- table ff_meta for that). No UNIQUE key but the primary key: rows reach MariaDB seconds after
-- they were acknowledged, so uniqueness of other columns is the game logic's to keep.

CREATE TABLE IF NOT EXISTS tb_user (
    id       INT         NOT NULL,
    username VARCHAR(11) NOT NULL,
    password VARCHAR(11) NOT NULL,
    created  DATETIME    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS tb_character (
    id         INT          NOT NULL,
    userId     INT          NOT NULL,
    name       VARCHAR(32)  NOT NULL,
    profession TINYINT      NOT NULL DEFAULT 0,
    level      INT          NOT NULL DEFAULT 1,
    exp        BIGINT       NOT NULL DEFAULT 0,
    coin       INT UNSIGNED NOT NULL DEFAULT 0,
    town       INT          NOT NULL DEFAULT 1000,
    PRIMARY KEY (id),
    KEY userId (userId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS tb_item (
    id    BIGINT      NOT NULL,
    owner INT         NOT NULL,
    kind  VARCHAR(32) NOT NULL,
    qty   INT         NOT NULL DEFAULT 1,
    data  TEXT        NULL,
    PRIMARY KEY (id),
    KEY owner (owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
