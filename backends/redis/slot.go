package redis

// slots is the number of Redis Cluster hash slots.
const slots = 16384

// crc16tab is the CRC16/XMODEM table (polynomial 0x1021, initial 0) that
// Redis Cluster uses for key slots.
var crc16tab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// keySlot returns the cluster slot of key, as CLUSTER KEYSLOT does: the
// CRC16 of the key, or of the text between its first '{' and the next '}'
// when that text is not empty (a hash tag), mod 16384. rueidis computes
// the same internally but does not export it.
func keySlot(key string) uint16 {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						key = key[i+1 : j]
					}
					break
				}
			}
			break
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^key[i]]
	}
	return crc % slots
}
