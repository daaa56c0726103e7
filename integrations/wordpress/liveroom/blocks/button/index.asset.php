<?php
/**
 * Script dependencies of the button block (written by hand: no build step).
 *
 * @package Liveroom
 */

return array(
	'dependencies' => array( 'wp-blocks', 'wp-element', 'wp-block-editor', 'wp-components', 'wp-i18n' ),
	'version'      => '1.0.0',
);
