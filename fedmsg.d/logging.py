# Logging for fedmsg-hub: fedmsg's default covers only fedmsg and moksha.
config = dict(
    logging=dict(
        version=1,
        disable_existing_loggers=False,
        formatters=dict(
            bare={
                "format": "%(asctime)s [%(name)s %(levelname)s] %(message)s",
                "datefmt": "%Y-%m-%d %H:%M:%S",
            },
        ),
        handlers=dict(
            console={
                "class": "logging.StreamHandler",
                "formatter": "bare",
                "level": "INFO",
                "stream": "ext://sys.stdout",
            },
        ),
        loggers=dict(
            hubs={"level": "INFO", "propagate": False, "handlers": ["console"]},
            twisted={"level": "INFO", "propagate": False, "handlers": ["console"]},
            fedmsg={"level": "INFO", "propagate": False, "handlers": ["console"]},
            moksha={"level": "INFO", "propagate": False, "handlers": ["console"]},
        ),
    ),
)
