//! Configuration: bot-config.yml and the seed format (to be implemented).
