"""Virtual PLCs: tag maps, register encoding, Modbus TCP and OPC UA servers, client drivers."""
