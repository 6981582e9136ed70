/*
 * Open-addressing hash map from a 64-bit key to a non-NULL pointer. Keys are
 * inode numbers (chunk file cache) and endpoint addresses (which connection
 * a request arrived on); neither is dense enough for an array.
 */
#ifndef BFS_MAP_H
#define BFS_MAP_H

#include <stdint.h>

typedef struct {
    uint64_t key;
    void *val; /* NULL marks an empty slot */
} bfs_map_entry_t;

typedef struct {
    bfs_map_entry_t *slots;
    uint32_t mask; /* capacity - 1; capacity is a power of two */
    uint32_t count;
} bfs_map_t;

void bfs_map_init(bfs_map_t *map);
void bfs_map_fini(bfs_map_t *map);
void *bfs_map_get(const bfs_map_t *map, uint64_t key);
/* Inserts or replaces; returns 0 or -ENOMEM. val must not be NULL. */
int bfs_map_put(bfs_map_t *map, uint64_t key, void *val);
void *bfs_map_remove(bfs_map_t *map, uint64_t key);

#endif
