//! Images: imported tarballs, stored as content-addressed layers.
