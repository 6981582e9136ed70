"""Pure logic shared by the benchfs client and server, with no I/O (sans-I/O, as in h11).

Everything here can be tested without a server: path normalisation (``paths``), the
placement ring (``placement``), chunk arithmetic (``chunks``), the metadata wire codec
(``wire``), the inode record (``records``) and errno handling (``errors``).
"""
